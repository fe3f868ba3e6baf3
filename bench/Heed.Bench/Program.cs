using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Heed;
using Heed.Bench;
using Heed.Kernels;

// dotnet run -c Release --project bench/Heed.Bench -- [BenchmarkDotNet arguments, e.g. --filter '*Prefill*']
// dotnet run -c Release --project bench/Heed.Bench -- --side-by-side [--threads N] [--rounds R]
//   interleaves every contender call by call, so machine noise hits all of them alike, and prints a Markdown table.
// dotnet run -c Release --project bench/Heed.Bench -- --backward [--threads N] [--rounds R]
//   the attention backward beside libtorch SDPA's backward, the same way (BackwardSideBySide).
// dotnet run -c Release --project bench/Heed.Bench -- --train [--threads N] [--rounds R]
//   training throughput (tokens/s) of the same small GPT-2 in Heed and in libtorch, rounds alternating (TrainingSideBySide).
if (args.Contains("--train"))
{
    TrainingSideBySide.Run(Option("--threads", Environment.ProcessorCount), Option("--rounds", 5));
    return;
}

if (args.Contains("--backward"))
{
    BackwardSideBySide.Run(Option("--threads", Environment.ProcessorCount), Option("--rounds", 5));
    return;
}

if (args.Contains("--side-by-side"))
{
    int threads = Option("--threads", Environment.ProcessorCount);
    int rounds = Option("--rounds", 7);
    SideBySide.Run(threads, rounds);
    return;
}

// In-process: the native libraries (libtorch, ONNX Runtime) load once, from this build's output.
ManualConfig config = ManualConfig.Create(DefaultConfig.Instance)
    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(8));
BenchmarkSwitcher.FromAssembly(typeof(PrefillBenchmarks).Assembly).Run(args, config);

int Option(string name, int fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>Every contender on the same inputs, timed call by call in rotation, with the FMA peak and copy bandwidth measured in the same run.</summary>
internal static class SideBySide
{
    public static void Run(int threads, int rounds)
    {
        Console.WriteLine($"threads {threads}, tier {AttentionKernels.Tier}, rounds {rounds} (16x at T = 128, 4x at 512 and for decode), each round 3 calls per contender in a row with the first not counted; best (min) of the counted calls, GFLOP/s = 4*B*H*T*S*D (halved when causal) / time");
        double peak = MachineLimits.FmaPeakGflops(threads);
        double copy = MachineLimits.CopyBandwidthGBs(threads);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FMA peak {peak:F1} GFLOP/s, copy bandwidth {copy:F1} GB/s (read+write)"));
        Console.WriteLine();
        Console.WriteLine("| shape | contender | best ms | median ms | GFLOP/s (best) | vs best peer | % FMA peak | max abs diff vs Heed |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (int length in new[] { 128, 512, 2048, 4096 })
        {
            foreach (bool causal in new[] { false, true })
            {
                // Short calls get more rounds (up to 16×), so their best-of is as stable as the long calls'.
                Table(new AttentionBenchmarkSize(1, 8, 8, length, length, 64, 64, causal, DType.Float32), threads, rounds * Math.Clamp(2048 / length, 1, 16), peak, multiHead: true);
            }
        }

        foreach (int kvLength in new[] { 4096, 16384, 65536 })
        {
            Table(new AttentionBenchmarkSize(1, 8, 2, 1, kvLength, 64, 64, false, DType.Float32), threads, rounds * 4, peak, multiHead: false, copy);
        }
    }

    private static void Table(AttentionBenchmarkSize size, int threads, int rounds, double peak, bool multiHead, double copy = 0)
    {
        var inputs = new BenchInputs(size);
        var contenders = new List<IContender> { new HeedContender(inputs, threads), new HeedContender(inputs, threads, reuseOutput: true), new TorchContender(inputs, threads), new OnnxContender(inputs, threads, multiHead: false) };
        if (multiHead)
        {
            contenders.Add(new OnnxContender(inputs, threads, multiHead: true));
        }

        float[] heedY = contenders[0].Output();
        var diffs = contenders.Select(c => MaxDifference(heedY, c.Output())).ToArray();
        List<double>[] times = Rounds([.. contenders.Select(c => (Action)c.Run)], rounds, threads);

        double bestPeer = times.Skip(2).Min(t => t.Min()); // the first two are Heed (a new Y per call, and Y reused)
        string shape = $"T={size.QueryLength} S={size.KvLength} H={size.Heads}/{size.KvHeads}{(size.Causal ? " causal" : "")}";
        for (int c = 0; c < contenders.Count; c++)
        {
            times[c].Sort();
            double best = times[c][0], median = times[c][times[c].Count / 2];
            double gflops = size.Flops / best / 1e6;
            string efficiency = copy > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{100 * size.KeyValueBytes / best / 1e6 / copy:F0}% of copy BW")
                : string.Create(CultureInfo.InvariantCulture, $"{100 * gflops / peak:F0}%");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {shape} | {contenders[c].Name} | {best:F3} | {median:F3} | {gflops:F1} | {bestPeer / best:F2}x | {efficiency} | {diffs[c]:G3} |"));
            contenders[c].Dispose();
        }
    }

    /// <summary>
    /// Times every run in rotation, <paramref name="rounds"/> times: each round three calls of each in a row, the first not counted
    /// (so another library's worker threads that spin after its own call, as ONNX Runtime's do, or this one's cold caches do
    /// not land on the timed calls); on more than one thread a 50 ms pause after each run's calls lets idle spinning workers
    /// settle. Returns each run's counted milliseconds.
    /// </summary>
    public static List<double>[] Rounds(IReadOnlyList<Action> runs, int rounds, int threads)
    {
        var times = runs.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 0; c < runs.Count; c++)
            {
                for (int call = 0; call < 3; call++)
                {
                    var clock = Stopwatch.StartNew();
                    runs[c]();
                    if (call > 0)
                    {
                        times[c].Add(clock.Elapsed.TotalMilliseconds);
                    }
                }

                if (threads > 1)
                {
                    Thread.Sleep(50);
                }
            }
        }

        return times;
    }

    private static double MaxDifference(float[] a, float[] b)
    {
        double worst = 0;
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        return a.Length == b.Length ? worst : double.NaN;
    }
}
