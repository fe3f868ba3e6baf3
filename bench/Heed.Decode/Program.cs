using System.Diagnostics;
using System.Globalization;
using Heed.Models;
using Heed.Models.Generation;
using Heed.Models.Tests;
using Heed.Models.Tokenizers;
using LLama;
using LLama.Common;
using LLama.Native;

// Decode speed of GGUF llama files with random weights in the shapes of stories15M and stories110M, one file per tensor
// type, written once into --dir (with the 32,000-token llama2.c vocabulary of --vocab, so llama.cpp can load them too;
// Q4_K_M is made from the F32 file by llama.cpp's own quantizer), side by side with llama.cpp through LLamaSharp
// (flash attention off, F32 KV cache): greedy decoding of --steps positions after "Once upon a time", Heed and llama.cpp
// alternating call by call, the one that goes first changing from round to round.
//   dotnet run -c Release --project bench/Heed.Decode -- --vocab ../shared/peers/llama2.c/tokenizer.bin --dir /tmp/heed-decode
//       [--shape 110M|15M] [--types F32,F16,Q8_0,Q4_K_M] [--threads 1,2] [--rounds 5] [--steps 256] [--float-k]
// --float-k runs Heed's Q4_K/Q6_K/Q8_0 decode products on float activations (WeightMatrix.QuantizeActivations off).
// --prefill N also times one batched pass over a prompt of N tokens (BOS, then random token ids) in each round: Heed's
// session forward and llama.cpp's decode of the batch, prompt tokens/s.
// --runc DIR (llama2.c's folder, holding run.c) also times llama2.c's run.c on the F32 file's weights, written as a llama2.c
// checkpoint and built with -Ofast -march=native -fopenmp (threads from OMP_NUM_THREADS), in each round of the F32 type.
// Prints, per type and thread count, the median decode tokens/s of both over the rounds and their ratio, and Heed's weight
// bytes per token times its tokens/s as a share of the read bandwidth a plain sum of 1 GiB gets on as many threads (measured
// in each round, between the contenders).
string Arg(string name, string fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

string dir = Arg("--dir", Path.Combine(Path.GetTempPath(), "heed-decode"));
string vocabPath = Arg("--vocab", "tokenizer.bin");
string shape = Arg("--shape", "110M");
string[] types = Arg("--types", "F32,F16,Q8_0,Q4_K_M").Split(',');
int[] threads = [.. Arg("--threads", "1,2").Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture))];
int rounds = int.Parse(Arg("--rounds", "5"), CultureInfo.InvariantCulture);
int steps = int.Parse(Arg("--steps", "256"), CultureInfo.InvariantCulture);
int prefill = int.Parse(Arg("--prefill", "0"), CultureInfo.InvariantCulture);
string? runcDir = Arg("--runc", "") is { Length: > 0 } r ? r : null;
Directory.CreateDirectory(dir);
Heed.Models.Blocks.WeightMatrix.QuantizeActivations = !args.Contains("--float-k");

// Loads llama.cpp's native library through LLamaSharp's loader (which picks the build for this CPU) before the quantizer's
// first direct call.
NativeApi.llama_empty_call();
var models = new Dictionary<string, (string Path, ICausalLanguageModel Model, ITokenizer Tokenizer)>();
foreach (string type in types)
{
    string path = Path.Combine(dir, $"random-{shape}-{type}.gguf");

    // A Q4_K_M file as llama.cpp's llama-quantize makes it, the classifier (output.weight) included, as Q6_K. LLamaSharp's
    // quantizer leaves the classifier in F32 unless asked; a file written that way by an earlier version of this bench is
    // made again.
    if (type == "Q4_K_M" && File.Exists(path) && ModelFiles.LoadModel(path) is Heed.Models.Llama.LlamaModel { Weights.Classifier.Type: Heed.Models.Gguf.GgmlType.F32 })
    {
        File.Delete(path);
    }

    if (!File.Exists(path) && type == "Q4_K_M")
    {
        string source = Path.Combine(dir, $"random-{shape}-F32.gguf");
        if (!File.Exists(source)) RandomModels.Write(source, shape, "F32", vocabPath);
        if (!LLamaQuantizer.Quantize(source, path, LLamaFtype.MOSTLY_Q4_K_M, nthread: Environment.ProcessorCount, quantizeOutputTensor: true)) throw new InvalidOperationException("llama.cpp's quantizer failed");
    }
    else if (!File.Exists(path))
    {
        RandomModels.Write(path, shape, type, vocabPath);
    }

    models[type] = (path, ModelFiles.LoadModel(path), ModelFiles.LoadTokenizer(path));
    Console.WriteLine($"{path}: {new FileInfo(path).Length / 1e6:F0} MB");
}

var heed = new Dictionary<(string, int), List<double>>();
var llama = new Dictionary<(string, int), List<double>>();
var runc = new Dictionary<(string, int), List<double>>();
RunC? peerC = runcDir is not null && models.TryGetValue("F32", out var f32) ? RunC.Prepare(runcDir, dir, shape, (Heed.Models.Llama.LlamaModel)f32.Model, vocabPath) : null;
var heedPrefill = new Dictionary<(string, int), List<double>>();
var bandwidth = new Dictionary<(string, int), List<double>>();
using var probe = new ReadProbe(1L << 30);
var llamaPrefill = new Dictionary<(string, int), List<double>>();
foreach (int t in threads)
{
    foreach (string type in types)
    {
        using var peer = new LlamaCppDecoder(models[type].Path, t, Math.Max(steps, prefill) + 8);
        var promptRandom = new Random(1);
        int[] longPrompt = [1, .. Enumerable.Range(1, Math.Max(prefill - 1, 0)).Select(_ => promptRandom.Next(3, models[type].Model.VocabSize))];
        DecoderSession? prefillSession = prefill > 0 ? models[type].Model.CreateSession(prefill) : null;
        for (int round = 0; round < rounds; round++)
        {
            (ICausalLanguageModel model, ITokenizer tokenizer) = (models[type].Model, models[type].Tokenizer);
            int[] prompt = tokenizer.Encode("Once upon a time", addBos: true, addEos: false);
            // The engine that goes first alternates from round to round, so a drift of the host's memory bandwidth within a round
            // favours neither.
            bool heedFirst = round % 2 == 0;
            (double peerSpeed, int[] peerTokens) = heedFirst ? default : peer.Decode(prompt, steps);
            GenerationResult result = TextGenerator.Generate(model, tokenizer, "Once upon a time", new GenerationOptions { Steps = steps, Threads = t }, _ => { });
            if (heedFirst) (peerSpeed, peerTokens) = peer.Decode(prompt, steps);
            Add(heed, (type, t), result.DecodeTokensPerSecond);
            Add(llama, (type, t), peerSpeed);
            Add(bandwidth, (type, t), probe.GigabytesPerSecond(t));
            if (peerC is not null && type == "F32") Add(runc, (type, t), peerC.Run(t, steps));
            if (prefillSession is not null)
            {
                prefillSession.Threads = t;
                prefillSession.Reset();
                if (!heedFirst) Add(llamaPrefill, (type, t), peer.Prefill(longPrompt));
                var clock = Stopwatch.StartNew();
                prefillSession.Forward(longPrompt);
                Add(heedPrefill, (type, t), prefill / clock.Elapsed.TotalSeconds);
                if (heedFirst) Add(llamaPrefill, (type, t), peer.Prefill(longPrompt));
            }
            if (round == 0)
            {
                int same = result.Tokens.Zip(peerTokens).TakeWhile(p => p.First == p.Second).Count();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{type} threads {t}: Heed {result.DecodeTokensPerSecond:F1} tok/s, llama.cpp {peerSpeed:F1} tok/s; greedy tokens identical for the first {same} of {result.Tokens.Length} positions"));
            }
        }
    }
}

Console.WriteLine();
Console.WriteLine($"| {shape} type | threads | Heed decode tok/s (median of {rounds}) | llama.cpp (median) | Heed / llama.cpp | weights per token | read bandwidth (median) | Heed's weight stream, % of it |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
foreach ((string type, int t) in heed.Keys)
{
    double ours = Median(heed[(type, t)]), theirs = Median(llama[(type, t)]), read = Median(bandwidth[(type, t)]);
    double megabytes = WeightBytes(models[type].Model) / 1e6;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {type} | {t} | {ours:F1} | {theirs:F1} | {ours / theirs:F2}x | {megabytes:F0} MB | {read:F1} GB/s | {100 * ours * megabytes / 1e3 / read:F0}% |"));
}

if (runc.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine($"| {shape} | threads | Heed F32 decode tok/s (median of {rounds}) | run.c -Ofast -fopenmp (median) | Heed / run.c |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach ((string type, int t) in runc.Keys)
    {
        double ours = Median(heed[(type, t)]), theirs = Median(runc[(type, t)]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {type} | {t} | {ours:F1} | {theirs:F1} | {ours / theirs:F2}x |"));
    }
}

if (prefill > 0)
{
    Console.WriteLine();
    Console.WriteLine($"| {shape} type | threads | Heed prefill of {prefill} tokens, tok/s (median of {rounds}) | llama.cpp (median) | Heed / llama.cpp |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach ((string type, int t) in heedPrefill.Keys)
    {
        double ours = Median(heedPrefill[(type, t)]), theirs = Median(llamaPrefill[(type, t)]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {type} | {t} | {ours:F1} | {theirs:F1} | {ours / theirs:F2}x |"));
    }
}

// The bytes a decode step reads from the weight matrices (every layer's seven and the classifier), as stored.
static long WeightBytes(ICausalLanguageModel model)
{
    var w = ((Heed.Models.Llama.LlamaModel)model).Weights;
    return w.Layers.Sum(l => ((Heed.Models.Blocks.WeightMatrix[])[l.Wq, l.Wk, l.Wv, l.Wo, l.W1, l.W2, l.W3]).Sum(m => (long)m.Rows * m.RowBytes))
        + ((long)w.Classifier.Rows * w.Classifier.RowBytes);
}

static void Add(Dictionary<(string, int), List<double>> table, (string, int) key, double value) =>
    (table.TryGetValue(key, out List<double>? list) ? list : table[key] = []).Add(value);

static double Median(List<double> values)
{
    values.Sort();
    return values[values.Count / 2];
}

/// <summary>llama.cpp through LLamaSharp: prefill of the prompt, then one-token greedy decode steps, timed.</summary>
internal sealed class LlamaCppDecoder : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public LlamaCppDecoder(string path, int threads, int context)
    {
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)context,
            BatchSize = 512,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
    }

    /// <summary>Prompt tokens/s of one batched pass over <paramref name="prompt"/> from an empty cache (logits of the last only).</summary>
    public double Prefill(int[] prompt)
    {
        _context.NativeHandle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        var clock = Stopwatch.StartNew();
        if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp prefill failed");
        return prompt.Length / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Decode tokens/s over the steps after the prompt, and every token (prompt first).</summary>
    public (double TokensPerSecond, int[] Tokens) Decode(int[] prompt, int steps)
    {
        _context.NativeHandle.MemoryClear();
        var tokens = new List<int>(prompt);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp prefill failed");
        tokens.Add(ArgMax(_context.NativeHandle.GetLogitsIth(batch.TokenCount - 1)));
        var clock = Stopwatch.StartNew();
        int decoded = 0;
        while (tokens.Count < steps)
        {
            batch.Clear();
            batch.Add(tokens[^1], tokens.Count - 1, LLamaSeqId.Zero, true);
            if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp decode failed");
            tokens.Add(ArgMax(_context.NativeHandle.GetLogitsIth(0)));
            decoded++;
        }

        return (decoded / clock.Elapsed.TotalSeconds, [.. tokens]);
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

/// <summary>GGUF llama files with random weights (uniform, std ≈ 0.02; norms 1; embedding uniform ±1) in the stories shapes.</summary>
internal static class RandomModels
{
    public static void Write(string path, string shape, string typeName, string vocabPath)
    {
        RandomLlamaShape sizes = shape switch
        {
            "15M" => RandomLlamaShape.Stories15M,
            "110M" => RandomLlamaShape.Stories110M,
            _ => throw new ArgumentException($"shape {shape}: 15M or 110M"),
        };
        uint type = typeName switch { "F32" => 0u, "F16" => 1u, "BF16" => 30u, "Q8_0" => 8u, "Q4_K" => 12u, "Q6_K" => 14u, _ => throw new ArgumentException(typeName) };
        var tokenizer = LlamaTokenizer.Load(vocabPath);
        int vocab = tokenizer.VocabSize;
        string[] pieces = [.. Enumerable.Range(0, vocab).Select(i => tokenizer.PieceText(i).Replace(' ', '\u2581'))];
        int[] kinds = [.. Enumerable.Range(0, vocab).Select(i => i == 0 ? 2 : i < 3 ? 3 : pieces[i].StartsWith("<0x", StringComparison.Ordinal) && pieces[i].Length == 6 ? 6 : 1)];
        GgufWriter w = RandomLlamaFile.Create(
            sizes with { Vocab = vocab },
            type,
            new Random(42),
            metadata: m => m
                .String("general.name", $"random-{shape}-{typeName}")
                .String("tokenizer.ggml.model", "llama")
                .Strings("tokenizer.ggml.tokens", pieces)
                .Floats("tokenizer.ggml.scores", [.. tokenizer.Scores.ToArray()])
                .Ints("tokenizer.ggml.token_type", kinds)
                .UInt32("tokenizer.ggml.bos_token_id", 1)
                .UInt32("tokenizer.ggml.eos_token_id", 2)
                .UInt32("tokenizer.ggml.unknown_token_id", 0)
                .Bool("tokenizer.ggml.add_bos_token", true)
                .Bool("tokenizer.ggml.add_eos_token", false),
            range: 0.035, // uniform ±0.035 has std 0.02
            unitNorms: true);
        var clock = Stopwatch.StartNew();
        File.WriteAllBytes(path, w.ToArray());
        Console.WriteLine($"wrote {path} in {clock.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>llama2.c's run.c on the same weights: a llama2.c checkpoint written from the F32 model, run.c built with OpenMP.</summary>
internal sealed class RunC(string binary, string checkpoint, string tokenizer)
{
    public static RunC Prepare(string source, string dir, string shape, Heed.Models.Llama.LlamaModel model, string tokenizer)
    {
        string binary = Path.Combine(dir, "run_omp"), checkpoint = Path.Combine(dir, $"random-{shape}.bin");
        if (!File.Exists(binary))
        {
            using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-Ofast", "-march=native", "-fopenmp", "-o", binary, Path.Combine(source, "run.c"), "-lm"]))!;
            gcc.WaitForExit();
            if (gcc.ExitCode != 0) throw new InvalidOperationException("gcc failed on run.c");
        }

        if (!File.Exists(checkpoint)) Write(model, checkpoint);
        return new RunC(binary, checkpoint, tokenizer);
    }

    // The llama2.c layout: 7 int32 (dim, hidden, layers, heads, kv heads, vocab — negative when the classifier is separate —,
    // seq), then float32 tables in run.c's order, with the unused RoPE tables as zeros.
    private static void Write(Heed.Models.Llama.LlamaModel model, string path)
    {
        var c = model.Config;
        var w = model.Weights;
        using var writer = new BinaryWriter(File.Create(path));
        foreach (int v in new[] { c.Dim, c.HiddenDim, c.NumLayers, c.NumHeads, c.KvNumHeads, c.SharedClassifier ? c.VocabSize : -c.VocabSize, c.SeqLen }) writer.Write(v);
        void Floats(ReadOnlySpan<float> values)
        {
            foreach (float v in values) writer.Write(v);
        }

        Floats(w.TokenEmbedding.Floats);
        foreach (var l in w.Layers) Floats(l.RmsAtt);
        foreach (var l in w.Layers) Floats(l.Wq.Floats!);
        foreach (var l in w.Layers) Floats(l.Wk.Floats!);
        foreach (var l in w.Layers) Floats(l.Wv.Floats!);
        foreach (var l in w.Layers) Floats(l.Wo.Floats!);
        foreach (var l in w.Layers) Floats(l.RmsFfn);
        foreach (var l in w.Layers) Floats(l.W1.Floats!);
        foreach (var l in w.Layers) Floats(l.W2.Floats!);
        foreach (var l in w.Layers) Floats(l.W3.Floats!);
        Floats(w.RmsFinal);
        Floats(new float[c.SeqLen * c.HeadSize]); // freq_cis_real and freq_cis_imag, [seq, head/2] each
        if (!c.SharedClassifier) Floats(w.Classifier.Floats!);
    }

    /// <summary>run.c's own "achieved tok/s" for a greedy run of <paramref name="steps"/> positions on <paramref name="threads"/> threads.</summary>
    public double Run(int threads, int steps)
    {
        var start = new ProcessStartInfo(binary, [checkpoint, "-z", tokenizer, "-t", "0", "-n", steps.ToString(CultureInfo.InvariantCulture), "-i", "Once upon a time"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        int at = error.IndexOf("achieved tok/s: ", StringComparison.Ordinal);
        if (at < 0) throw new InvalidOperationException("run.c: " + error);
        return double.Parse(error[(at + 16)..].Trim(), CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The machine's read bandwidth as a decode step can use it: the best of 5 sums of a buffer far larger than the caches
/// (64-byte aligned, 64-byte vector loads into four accumulators), split in contiguous parts over the given threads.
/// </summary>
internal sealed unsafe class ReadProbe : IDisposable
{
    private readonly float* _data;
    private readonly long _count;

    public ReadProbe(long bytes)
    {
        _count = bytes / sizeof(float);
        _data = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, 64);
        new Span<float>(_data, (int)Math.Min(_count, int.MaxValue)).Fill(1);
        for (long at = int.MaxValue; at < _count; at += int.MaxValue) new Span<float>(_data + at, (int)Math.Min(_count - at, int.MaxValue)).Fill(1);
    }

    public double GigabytesPerSecond(int threads)
    {
        double best = 0;
        for (int rep = 0; rep < 5; rep++)
        {
            var sums = new float[threads];
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
            {
                long first = _count * part / threads / 64 * 64, last = _count * (part + 1) / threads / 64 * 64;
                sums[part] = Sum(_data + first, last - first);
            });
            best = Math.Max(best, _count * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
            if (sums.Sum() < 0) throw new InvalidOperationException("unreachable: the buffer holds ones");
        }

        return best;
    }

    private static float Sum(float* p, long count)
    {
        var a0 = System.Runtime.Intrinsics.Vector512<float>.Zero;
        var a1 = a0;
        var a2 = a0;
        var a3 = a0;
        for (long i = 0; i < count; i += 64)
        {
            a0 += System.Runtime.Intrinsics.Vector512.Load(p + i);
            a1 += System.Runtime.Intrinsics.Vector512.Load(p + i + 16);
            a2 += System.Runtime.Intrinsics.Vector512.Load(p + i + 32);
            a3 += System.Runtime.Intrinsics.Vector512.Load(p + i + 48);
        }

        return System.Runtime.Intrinsics.Vector512.Sum(a0 + a1 + a2 + a3);
    }

    public void Dispose() => System.Runtime.InteropServices.NativeMemory.AlignedFree(_data);
}
