using System.Diagnostics;

namespace Heed.Kernels;

/// <summary>One attention size to time: Q [B, H, T, D], K [B, Hkv, S, D], V [B, Hkv, S, Dv] of random values in [−1, 1).</summary>
/// <param name="Batch">B.</param>
/// <param name="Heads">H.</param>
/// <param name="KvHeads">Hkv.</param>
/// <param name="QueryLength">T.</param>
/// <param name="KvLength">S.</param>
/// <param name="HeadSize">D.</param>
/// <param name="ValueHeadSize">Dv.</param>
/// <param name="Causal">Whether the causal mask applies (offset 0 for T = S; for T &lt; S the query rows are the last T positions, as in decoding with a cache).</param>
/// <param name="Type">The element type of Q, K and V.</param>
/// <param name="Backward">Time the backward pass (dQ, dK, dV from a random dY) instead of the forward; needs S = T when causal.</param>
public sealed record AttentionBenchmarkSize(int Batch, int Heads, int KvHeads, int QueryLength, int KvLength, int HeadSize, int ValueHeadSize, bool Causal, DType Type, bool Backward = false)
{
    /// <summary>
    /// Nominal flops: 4·B·H·T·S·D (Q·Kᵀ and P·V), halved when causal and T = S; for the backward 2.5 times that (the usual
    /// convention: dV, dP, dQ, dK and the recomputed Q·Kᵀ are five products against the forward's two).
    /// </summary>
    public double Flops => 4.0 * Batch * Heads * QueryLength * KvLength * HeadSize * (Causal && QueryLength == KvLength ? 0.5 : 1) * (Backward ? 2.5 : 1);

    /// <summary>Bytes of K and V one call must read at least.</summary>
    public long KeyValueBytes => (long)Batch * KvHeads * KvLength * (HeadSize + ValueHeadSize) * DTypes.SizeOf(Type);

    /// <summary>The inputs: when T &lt; S the keys are split into a past cache of S − T and T new ones, so causal rows see every earlier key.</summary>
    public AttentionInputs CreateInputs(int seed = 1)
    {
        var rng = new Random(seed);
        Tensor Make(params int[] shape)
        {
            var values = new double[Tensor.CheckedLength(shape)];
            for (int i = 0; i < values.Length; i++) values[i] = (rng.NextDouble() * 2) - 1;
            return Tensor.FromDoubles(Type, shape, values);
        }

        Tensor q = Make(Batch, Heads, QueryLength, HeadSize);
        if (!Causal || QueryLength >= KvLength)
        {
            return new AttentionInputs(q, Make(Batch, KvHeads, KvLength, HeadSize), Make(Batch, KvHeads, KvLength, ValueHeadSize));
        }

        int past = KvLength - QueryLength;
        return new AttentionInputs(q, Make(Batch, KvHeads, QueryLength, HeadSize), Make(Batch, KvHeads, QueryLength, ValueHeadSize))
        {
            PastKey = Make(Batch, KvHeads, past, HeadSize),
            PastValue = Make(Batch, KvHeads, past, ValueHeadSize),
        };
    }
}

/// <summary>Timings of one attention size.</summary>
/// <param name="Kernel">The kernel that ran.</param>
/// <param name="Tier">The vector tier.</param>
/// <param name="Threads">Threads allowed.</param>
/// <param name="Iterations">Timed calls.</param>
/// <param name="MedianMs">Median milliseconds per call.</param>
/// <param name="MinMs">Fastest call.</param>
/// <param name="MaxMs">Slowest call.</param>
/// <param name="Gflops">Nominal flops / median time.</param>
/// <param name="AllocatedBytes">Bytes allocated by one call on every thread (an upper bound of its peak memory).</param>
/// <param name="ExtraBytes">AllocatedBytes less the outputs the call returns (Y, and present key/value when they are copies).</param>
public sealed record AttentionBenchmarkResult(AttentionKernel Kernel, SimdTier Tier, int Threads, int Iterations, double MedianMs, double MinMs, double MaxMs, double Gflops, long AllocatedBytes, long ExtraBytes);

/// <summary>Times <see cref="AttentionKernels.Compute(AttentionInputs, AttentionOptions, AttentionKernel?, SimdTier?)"/> in-process.</summary>
public static class AttentionBenchmark
{
    /// <summary>
    /// One untimed call measures allocations (GC.GetTotalAllocatedBytes, every thread), then calls are timed until
    /// <paramref name="seconds"/> have passed and at least <paramref name="minIterations"/> ran. With
    /// <paramref name="reuseOutput"/> every call writes Y into one tensor (<see cref="AttentionInputs.Destination"/>), as an
    /// inference loop would, instead of a new one. <paramref name="onCall"/>, when given, hears of every call before it starts:
    /// 0 for the untimed call, then 1, 2, … for the timed ones, with the time the timed calls have taken so far.
    /// </summary>
    public static AttentionBenchmarkResult Run(AttentionBenchmarkSize size, int threads, AttentionKernel? kernel = null, double seconds = 2, int minIterations = 3, bool reuseOutput = false, Action<int, TimeSpan>? onCall = null)
    {
        ArgumentNullException.ThrowIfNull(size);
        AttentionInputs inputs = size.CreateInputs();
        var options = new AttentionOptions { IsCausal = size.Causal, MaxThreads = threads, UseReference = kernel == AttentionKernel.Reference };
        if (size.Backward)
        {
            return RunBackward(size, inputs, options, seconds, minIterations, onCall);
        }

        AttentionKernel chosen = kernel ?? AttentionKernels.Choose(inputs, options);
        if (reuseOutput)
        {
            Tensor y = AttentionKernels.Compute(inputs, options, kernel, null).Output;
            inputs = inputs with { Destination = Tensor.Zeros(y.DType, y.Shape) };
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        onCall?.Invoke(0, TimeSpan.Zero);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        AttentionResult first = AttentionKernels.Compute(inputs, options, kernel, null);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        long outputs = (reuseOutput ? 0 : Bytes(first.Output))
            + (ReferenceEquals(first.PresentKey, inputs.Key) ? 0 : Bytes(first.PresentKey))
            + (ReferenceEquals(first.PresentValue, inputs.Value) ? 0 : Bytes(first.PresentValue));
        first = null!;

        (List<double> times, double median) = Time(() => AttentionKernels.Compute(inputs, options, kernel, null), seconds, minIterations, onCall);
        return new AttentionBenchmarkResult(chosen, AttentionKernels.Tier, threads, times.Count, median, times[0], times[^1], size.Flops / (median / 1000) / 1e9, allocated, allocated - outputs);
    }

    /// <summary>
    /// The backward pass (<see cref="AttentionKernels.ComputeBackward"/>) timed like the forward: dY random in [−1, 1), outputs
    /// Y, dQ, dK and dV not counted as extra memory; GFLOP/s from <see cref="AttentionBenchmarkSize.Flops"/> (2.5× the forward's).
    /// </summary>
    private static AttentionBenchmarkResult RunBackward(AttentionBenchmarkSize size, AttentionInputs inputs, AttentionOptions options, double seconds, int minIterations, Action<int, TimeSpan>? onCall)
    {
        var rng = new Random(4);
        var values = new double[Tensor.CheckedLength([size.Batch, size.Heads, size.QueryLength, size.ValueHeadSize])];
        for (int i = 0; i < values.Length; i++) values[i] = (rng.NextDouble() * 2) - 1;
        Tensor gradOutput = Tensor.FromDoubles(size.Type, [size.Batch, size.Heads, size.QueryLength, size.ValueHeadSize], values);
        AttentionKernel chosen = options.UseReference || size.Type == DType.Float64 ? AttentionKernel.Reference : AttentionKernel.Flash;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        onCall?.Invoke(0, TimeSpan.Zero);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        AttentionGradients first = AttentionKernels.ComputeBackward(inputs, gradOutput, options);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        long outputs = Bytes(first.Output) + Bytes(first.GradQuery) + Bytes(first.GradKey) + Bytes(first.GradValue);
        first = null!;

        (List<double> times, double median) = Time(() => AttentionKernels.ComputeBackward(inputs, gradOutput, options), seconds, minIterations, onCall);
        return new AttentionBenchmarkResult(chosen, AttentionKernels.Tier, options.MaxThreads ?? 1, times.Count, median, times[0], times[^1], size.Flops / (median / 1000) / 1e9, allocated, allocated - outputs);
    }

    /// <summary>Times calls until <paramref name="seconds"/> have passed and at least <paramref name="minIterations"/> ran: the sorted milliseconds and their median.</summary>
    private static (List<double> Times, double Median) Time(Action call, double seconds, int minIterations, Action<int, TimeSpan>? onCall)
    {
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minIterations || total.Elapsed.TotalSeconds < seconds)
        {
            onCall?.Invoke(times.Count + 1, total.Elapsed);
            var clock = Stopwatch.StartNew();
            call();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        times.Sort();
        double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
        return (times, median);
    }

    private static long Bytes(Tensor t) => (long)t.Length * DTypes.SizeOf(t.DType);
}
