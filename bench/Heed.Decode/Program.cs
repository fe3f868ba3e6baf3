using System.Diagnostics;
using System.Globalization;
using Heed.Models;
using Heed.Models.Generation;
using Heed.Models.Tests;
using Heed.Models.Tokenizers;

// Decode speed of GGUF llama files with random weights in the shapes of stories15M and stories110M, one file per tensor
// type, written once into --dir (with the 32,000-token llama2.c vocabulary of --vocab, so llama.cpp can load them too).
//   dotnet run -c Release --project bench/Heed.Decode -- --vocab ../shared/peers/llama2.c/tokenizer.bin --dir /tmp/heed-decode
//       [--shape 110M|15M] [--types F32,F16,Q8_0,Q4_K] [--threads 1,2] [--rounds 5] [--steps 256]
// Prints, per type and thread count, the median and best decode tokens/s over the rounds (types alternate within a round).
string Arg(string name, string fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

string dir = Arg("--dir", Path.Combine(Path.GetTempPath(), "heed-decode"));
string vocabPath = Arg("--vocab", "tokenizer.bin");
string shape = Arg("--shape", "110M");
string[] types = Arg("--types", "F32,F16,Q8_0,Q4_K").Split(',');
int[] threads = [.. Arg("--threads", "1,2").Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture))];
int rounds = int.Parse(Arg("--rounds", "5"), CultureInfo.InvariantCulture);
int steps = int.Parse(Arg("--steps", "256"), CultureInfo.InvariantCulture);
Directory.CreateDirectory(dir);

var models = new Dictionary<string, (ICausalLanguageModel Model, ITokenizer Tokenizer)>();
foreach (string type in types)
{
    string path = Path.Combine(dir, $"random-{shape}-{type}.gguf");
    if (!File.Exists(path)) RandomModels.Write(path, shape, type, vocabPath);
    models[type] = (ModelFiles.LoadModel(path), ModelFiles.LoadTokenizer(path));
    Console.WriteLine($"{path}: {new FileInfo(path).Length / 1e6:F0} MB");
}

var speeds = new Dictionary<(string, int), List<double>>();
for (int round = 0; round < rounds; round++)
{
    foreach (int t in threads)
    {
        foreach (string type in types)
        {
            (ICausalLanguageModel model, ITokenizer tokenizer) = models[type];
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            GenerationResult result = TextGenerator.Generate(model, tokenizer, "Once upon a time", new GenerationOptions { Steps = steps, Threads = t }, _ => { });
            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            (speeds.TryGetValue((type, t), out List<double>? list) ? list : speeds[(type, t)] = []).Add(result.DecodeTokensPerSecond);
            if (round == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{type} threads {t}: {result.DecodeTokensPerSecond:F1} tok/s, {allocated / (double)result.DecodeSteps:F0} bytes allocated per step (whole generation), text starts {result.Text[..Math.Min(40, result.Text.Length)]}"));
            }
        }
    }
}

Console.WriteLine();
Console.WriteLine($"| {shape} type | threads | Heed decode tok/s, median of {rounds} | best |");
Console.WriteLine("|---|---|---|---|");
foreach (((string type, int t), List<double> list) in speeds.OrderBy(p => p.Key.Item2))
{
    list.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {type} | {t} | {list[list.Count / 2]:F1} | {list[^1]:F1} |"));
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
