using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// The two ceilings a kernel is measured against, measured on the running machine: the fused multiply-add peak
/// (GFLOP/s, a loop of independent FMA chains in the widest vector tier) and the memory bandwidth of a large copy.
/// </summary>
public static class MachineLimits
{
    /// <summary>
    /// Peak float32 GFLOP/s on <paramref name="threads"/> threads: each runs 16 independent chains of
    /// <c>acc = acc·a + b</c> on the widest vector tier (2 flops per lane per FMA); the best of 5 runs.
    /// </summary>
    public static double FmaPeakGflops(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        const long Iterations = 20_000_000;
        int lanes = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;
        double best = 0;
        for (int run = 0; run < 5; run++)
        {
            var clock = Stopwatch.StartNew();
            float sink = 0;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
            {
                float r = lanes switch
                {
                    16 => Chains<Simd512, Vector512<float>>(Iterations),
                    8 => Chains<Simd256, Vector256<float>>(Iterations),
                    4 => Chains<Simd128, Vector128<float>>(Iterations),
                    _ => Chains<SimdScalar, float>(Iterations),
                };
                Volatile.Write(ref sink, r);
            });
            double seconds = clock.Elapsed.TotalSeconds;
            GC.KeepAlive(sink);
            best = Math.Max(best, threads * Iterations * 16.0 * lanes * 2 / seconds / 1e9);
        }

        return best;
    }

    /// <summary>
    /// Copy bandwidth in GB/s (bytes read plus bytes written per second) of a 256 MiB buffer copied on
    /// <paramref name="threads"/> threads, each copying its own slice; the best of 5 runs after one warm-up.
    /// </summary>
    public static double CopyBandwidthGBs(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        const int Bytes = 256 << 20;
        byte[] source = GC.AllocateUninitializedArray<byte>(Bytes), target = GC.AllocateUninitializedArray<byte>(Bytes);
        source.AsSpan().Fill(1);
        target.AsSpan().Fill(2);
        double best = 0;
        int slice = Bytes / threads;
        for (int run = 0; run < 6; run++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int start = t * slice, length = t == threads - 1 ? Bytes - start : slice;
                source.AsSpan(start, length).CopyTo(target.AsSpan(start, length));
            });
            double seconds = clock.Elapsed.TotalSeconds;
            if (run > 0)
            {
                best = Math.Max(best, 2.0 * Bytes / seconds / 1e9);
            }
        }

        return best;
    }

    /// <summary>16 independent chains of acc = acc·a + b on one vector tier (2 flops per lane per FMA).</summary>
    private static float Chains<TSimd, TV>(long iterations)
        where TSimd : ISimd<TV>
        where TV : struct
    {
        TV a = TSimd.Splat(0.999999f), b = TSimd.Splat(1e-7f);
        TV x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a, x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
        for (long i = 0; i < iterations; i++)
        {
            x0 = TSimd.MultiplyAdd(x0, a, b); x1 = TSimd.MultiplyAdd(x1, a, b);
            x2 = TSimd.MultiplyAdd(x2, a, b); x3 = TSimd.MultiplyAdd(x3, a, b);
            x4 = TSimd.MultiplyAdd(x4, a, b); x5 = TSimd.MultiplyAdd(x5, a, b);
            x6 = TSimd.MultiplyAdd(x6, a, b); x7 = TSimd.MultiplyAdd(x7, a, b);
            x8 = TSimd.MultiplyAdd(x8, a, b); x9 = TSimd.MultiplyAdd(x9, a, b);
            x10 = TSimd.MultiplyAdd(x10, a, b); x11 = TSimd.MultiplyAdd(x11, a, b);
            x12 = TSimd.MultiplyAdd(x12, a, b); x13 = TSimd.MultiplyAdd(x13, a, b);
            x14 = TSimd.MultiplyAdd(x14, a, b); x15 = TSimd.MultiplyAdd(x15, a, b);
        }

        TV sum = TSimd.Add(TSimd.Add(TSimd.Add(x0, x1), TSimd.Add(x2, x3)), TSimd.Add(TSimd.Add(x4, x5), TSimd.Add(x6, x7)));
        sum = TSimd.Add(sum, TSimd.Add(TSimd.Add(TSimd.Add(x8, x9), TSimd.Add(x10, x11)), TSimd.Add(TSimd.Add(x12, x13), TSimd.Add(x14, x15))));
        return TSimd.SumAcross(sum);
    }
}
