using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Heed.Kernels;

namespace Heed.Cli.Commands;

/// <summary><c>heed bench attention</c>: times the attention kernels in-process against the machine's own FMA peak and copy bandwidth.</summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Create()
    {
        var batch = new Option<int>("--batch") { Description = "B", DefaultValueFactory = _ => 1 };
        var heads = new Option<int>("--heads") { Description = "H, query heads", DefaultValueFactory = _ => 8 };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Hkv, key/value heads (default: H)" };
        var queryLength = new Option<int>("--q-len") { Description = "T, query length", DefaultValueFactory = _ => 1024 };
        var kvLength = new Option<int?>("--kv-len") { Description = "S, key/value length (default: T); with --causal and T < S the first S - T keys are a past cache" };
        var headSize = new Option<int>("--head-size") { Description = "D", DefaultValueFactory = _ => 64 };
        var valueHeadSize = new Option<int?>("--value-head-size") { Description = "Dv (default: D)" };
        var causal = new Option<bool>("--causal") { Description = "Causal mask (GFLOP/s then counts half the square)" };
        var threads = CommonOptions.Threads("Threads");
        var dtype = new Option<string>("--dtype") { Description = "Element type of Q, K, V", DefaultValueFactory = _ => "float32" };
        dtype.AcceptOnlyFromAmong("float32", "float16", "bfloat16", "float64");
        var kernel = new Option<string?>("--kernel") { Description = "Force a kernel instead of the dispatcher's choice" };
        kernel.AcceptOnlyFromAmong("flash", "decode", "materialized", "reference");
        var seconds = new Option<double>("--seconds") { Description = "Time budget for the timed calls", DefaultValueFactory = _ => 2 };
        var iterations = new Option<int>("--min-iterations") { Description = "Timed calls at the least", DefaultValueFactory = _ => 3 };
        var noLimits = new Option<bool>("--no-limits") { Description = "Skip measuring the FMA peak and the copy bandwidth" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var backward = new Option<bool>("--backward") { Description = "Time the backward pass (dQ, dK, dV from a random dY; GFLOP/s counted as 2.5x the forward's flops, the usual convention)" };
        var reuseOutput = new Option<bool>("--reuse-output") { Description = "Write Y into one tensor kept across calls (AttentionInputs.Destination), as an inference loop would, instead of a new one per call" };

        var attention = new Command("attention", "Time attention in-process: GFLOP/s (4*B*H*T*S*D, halved for causal), median/min/max ms, extra memory, and the ratios to the measured FMA peak and copy bandwidth.")
        {
            batch, heads, kvHeads, queryLength, kvLength, headSize, valueHeadSize, causal, threads, dtype, kernel, seconds, iterations, noLimits, reuseOutput, backward, json,
        };
        attention.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            int h = parse.GetValue(heads), t = parse.GetValue(queryLength), d = parse.GetValue(headSize), b = parse.GetValue(batch);
            var size = new AttentionBenchmarkSize(
                b, h, parse.GetValue(kvHeads) ?? h, t, parse.GetValue(kvLength) ?? t, d, parse.GetValue(valueHeadSize) ?? d,
                parse.GetValue(causal), DTypes.TryParse(parse.GetValue(dtype)!)!.Value, parse.GetValue(backward));
            Check("--batch", size.Batch, 1);
            Check("--heads", size.Heads, 1);
            Check("--kv-heads", size.KvHeads, 1);
            Check("--q-len", size.QueryLength, 1);
            Check("--kv-len", size.KvLength, 1);
            Check("--head-size", size.HeadSize, 1);
            Check("--value-head-size", size.ValueHeadSize, 1);
            if (size.Heads % size.KvHeads != 0)
            {
                throw new HeedException($"--heads {size.Heads} is not a multiple of --kv-heads {size.KvHeads}");
            }

            if (size.Causal && size.KvLength < size.QueryLength)
            {
                throw new HeedException($"--kv-len {size.KvLength} is below --q-len {size.QueryLength}: causal benchmarks need S >= T");
            }

            if (size.Backward && size.Causal && size.KvLength != size.QueryLength)
            {
                throw new HeedException($"--backward --causal needs --kv-len equal to --q-len (the backward takes no past cache); got {size.QueryLength} and {size.KvLength}");
            }

            if (size.Backward && (parse.GetValue(reuseOutput) || parse.GetValue(kernel) is "decode" or "materialized"))
            {
                throw new HeedException("--backward runs the flash backward kernel or, with --kernel reference, the reference; --reuse-output and --kernel decode/materialized do not apply");
            }

            double budget = parse.GetValue(seconds);
            if (!(budget >= 0))
            {
                throw new HeedException($"--seconds {budget.ToString(CultureInfo.InvariantCulture)} must be 0 or more");
            }

            int threadCount = AttentionKernels.Threads(new AttentionOptions { MaxThreads = parse.GetValue(threads) });
            AttentionKernel? forced = parse.GetValue(kernel) switch
            {
                "flash" => AttentionKernel.Flash,
                "decode" => AttentionKernel.Decode,
                "materialized" => AttentionKernel.Materialized,
                "reference" => AttentionKernel.Reference,
                _ => null,
            };
            int least = Math.Max(1, parse.GetValue(iterations));
            using var progress = new ProgressLine(parse.InvocationConfiguration.Error);
            string what = string.Create(CultureInfo.InvariantCulture, $"heed: bench B={size.Batch} H={size.Heads}/{size.KvHeads} T={size.QueryLength} S={size.KvLength} D={size.HeadSize}{(size.Causal ? " causal" : "")}: ");
            progress.Show(what + "preparing inputs", force: true);
            AttentionBenchmarkResult r = AttentionBenchmark.Run(size, threadCount, forced, budget, least, parse.GetValue(reuseOutput), (call, elapsed) =>
                progress.Show(what + (call == 0
                    ? "untimed call (allocations, warm-up)"
                    : string.Create(CultureInfo.InvariantCulture, $"timed call {call} (at least {least}, {elapsed.TotalSeconds:F1} of {budget:0.#} s)")), force: call <= 1));
            double? peak = null, copy = null;
            if (!parse.GetValue(noLimits))
            {
                progress.Show(what + "measuring the FMA peak and the copy bandwidth", force: true);
                peak = MachineLimits.FmaPeakGflops(threadCount);
                copy = MachineLimits.CopyBandwidthGBs(threadCount);
            }

            progress.Show(string.Create(CultureInfo.InvariantCulture, $"{what}done, {r.Iterations} timed calls"), force: true);
            progress.Finish();

            double readGBs = size.KeyValueBytes / (r.MedianMs / 1000) / 1e9;
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(
                    new
                    {
                        batch = size.Batch,
                        heads = size.Heads,
                        kv_heads = size.KvHeads,
                        q_len = size.QueryLength,
                        kv_len = size.KvLength,
                        head_size = size.HeadSize,
                        value_head_size = size.ValueHeadSize,
                        causal = size.Causal,
                        dtype = DTypes.Name(size.Type),
                        pass = size.Backward ? "backward" : "forward",
                        kernel = r.Kernel.ToString().ToLowerInvariant(),
                        tier = r.Tier.ToString(),
                        threads = r.Threads,
                        gflops = r.Gflops,
                        median_ms = r.MedianMs,
                        min_ms = r.MinMs,
                        max_ms = r.MaxMs,
                        iterations = r.Iterations,
                        reuse_output = parse.GetValue(reuseOutput),
                        allocated_bytes = r.AllocatedBytes,
                        extra_bytes = r.ExtraBytes,
                        kv_read_gbs = readGBs,
                        fma_peak_gflops = peak,
                        peak_ratio = peak is double p ? r.Gflops / p : (double?)null,
                        copy_gbs = copy,
                        bandwidth_ratio = copy is double c ? readGBs / c : (double?)null,
                    },
                    Json));
            }
            else
            {
                var culture = CultureInfo.InvariantCulture;
                output.WriteLine(string.Create(culture, $"attention{(size.Backward ? " backward" : "")} B={size.Batch} H={size.Heads}/{size.KvHeads} T={size.QueryLength} S={size.KvLength} D={size.HeadSize} Dv={size.ValueHeadSize} {(size.Causal ? "causal " : "")}{DTypes.Name(size.Type)}"));
                if (size.Backward)
                {
                    output.WriteLine("GFLOP/s counts the backward as 2.5x the forward's flops (the usual convention)");
                }

                output.WriteLine(string.Create(culture, $"kernel {r.Kernel.ToString().ToLowerInvariant()} on {r.Tier}, {r.Threads} thread(s), {r.Iterations} iterations{(parse.GetValue(reuseOutput) ? ", Y reused" : "")}"));
                output.WriteLine(string.Create(culture, $"{r.Gflops:F1} GFLOP/s   median {r.MedianMs:F3} ms   min {r.MinMs:F3}   max {r.MaxMs:F3}"));
                output.WriteLine(string.Create(culture, $"extra memory {r.ExtraBytes / 1048576.0:F2} MiB (allocated {r.AllocatedBytes / 1048576.0:F2} MiB)   K+V read {readGBs:F1} GB/s"));
                if (peak is double fma && copy is double bw)
                {
                    output.WriteLine(string.Create(culture, $"FMA peak {fma:F1} GFLOP/s -> {100 * r.Gflops / fma:F1}% of peak;  copy bandwidth {bw:F1} GB/s -> K+V reads at {100 * readGBs / bw:F1}%"));
                }
            }

            return 0;
        }));

        return new Command("bench", "Benchmarks.") { attention };
    }

    private static void Check(string flag, int value, int least)
    {
        if (value < least)
        {
            throw new HeedException($"{flag} {value} must be at least {least}");
        }
    }
}
