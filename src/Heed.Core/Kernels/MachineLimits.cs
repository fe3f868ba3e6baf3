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
                    16 => Chains512(Iterations),
                    8 => Chains256(Iterations),
                    4 => Chains128(Iterations),
                    _ => ChainsScalar(Iterations),
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

    private static float Chains512(long iterations)
    {
        Vector512<float> a = Vector512.Create(0.999999f), b = Vector512.Create(1e-7f);
        Vector512<float> x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a, x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector512.FusedMultiplyAdd(x0, a, b); x1 = Vector512.FusedMultiplyAdd(x1, a, b);
            x2 = Vector512.FusedMultiplyAdd(x2, a, b); x3 = Vector512.FusedMultiplyAdd(x3, a, b);
            x4 = Vector512.FusedMultiplyAdd(x4, a, b); x5 = Vector512.FusedMultiplyAdd(x5, a, b);
            x6 = Vector512.FusedMultiplyAdd(x6, a, b); x7 = Vector512.FusedMultiplyAdd(x7, a, b);
            x8 = Vector512.FusedMultiplyAdd(x8, a, b); x9 = Vector512.FusedMultiplyAdd(x9, a, b);
            x10 = Vector512.FusedMultiplyAdd(x10, a, b); x11 = Vector512.FusedMultiplyAdd(x11, a, b);
            x12 = Vector512.FusedMultiplyAdd(x12, a, b); x13 = Vector512.FusedMultiplyAdd(x13, a, b);
            x14 = Vector512.FusedMultiplyAdd(x14, a, b); x15 = Vector512.FusedMultiplyAdd(x15, a, b);
        }

        return Vector512.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15);
    }

    private static float Chains256(long iterations)
    {
        Vector256<float> a = Vector256.Create(0.999999f), b = Vector256.Create(1e-7f);
        Vector256<float> x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a, x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, a, b); x1 = Vector256.FusedMultiplyAdd(x1, a, b);
            x2 = Vector256.FusedMultiplyAdd(x2, a, b); x3 = Vector256.FusedMultiplyAdd(x3, a, b);
            x4 = Vector256.FusedMultiplyAdd(x4, a, b); x5 = Vector256.FusedMultiplyAdd(x5, a, b);
            x6 = Vector256.FusedMultiplyAdd(x6, a, b); x7 = Vector256.FusedMultiplyAdd(x7, a, b);
            x8 = Vector256.FusedMultiplyAdd(x8, a, b); x9 = Vector256.FusedMultiplyAdd(x9, a, b);
            x10 = Vector256.FusedMultiplyAdd(x10, a, b); x11 = Vector256.FusedMultiplyAdd(x11, a, b);
            x12 = Vector256.FusedMultiplyAdd(x12, a, b); x13 = Vector256.FusedMultiplyAdd(x13, a, b);
            x14 = Vector256.FusedMultiplyAdd(x14, a, b); x15 = Vector256.FusedMultiplyAdd(x15, a, b);
        }

        return Vector256.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15);
    }

    private static float Chains128(long iterations)
    {
        Vector128<float> a = Vector128.Create(0.999999f), b = Vector128.Create(1e-7f);
        Vector128<float> x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a, x8 = a, x9 = a, x10 = a, x11 = a, x12 = a, x13 = a, x14 = a, x15 = a;
        for (long i = 0; i < iterations; i++)
        {
            x0 = Vector128.FusedMultiplyAdd(x0, a, b); x1 = Vector128.FusedMultiplyAdd(x1, a, b);
            x2 = Vector128.FusedMultiplyAdd(x2, a, b); x3 = Vector128.FusedMultiplyAdd(x3, a, b);
            x4 = Vector128.FusedMultiplyAdd(x4, a, b); x5 = Vector128.FusedMultiplyAdd(x5, a, b);
            x6 = Vector128.FusedMultiplyAdd(x6, a, b); x7 = Vector128.FusedMultiplyAdd(x7, a, b);
            x8 = Vector128.FusedMultiplyAdd(x8, a, b); x9 = Vector128.FusedMultiplyAdd(x9, a, b);
            x10 = Vector128.FusedMultiplyAdd(x10, a, b); x11 = Vector128.FusedMultiplyAdd(x11, a, b);
            x12 = Vector128.FusedMultiplyAdd(x12, a, b); x13 = Vector128.FusedMultiplyAdd(x13, a, b);
            x14 = Vector128.FusedMultiplyAdd(x14, a, b); x15 = Vector128.FusedMultiplyAdd(x15, a, b);
        }

        return Vector128.Sum(x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + x12 + x13 + x14 + x15);
    }

    private static float ChainsScalar(long iterations)
    {
        float a = 0.999999f, b = 1e-7f, x0 = a, x1 = a, x2 = a, x3 = a;
        for (long i = 0; i < iterations * 4; i++)
        {
            x0 = MathF.FusedMultiplyAdd(x0, a, b); x1 = MathF.FusedMultiplyAdd(x1, a, b);
            x2 = MathF.FusedMultiplyAdd(x2, a, b); x3 = MathF.FusedMultiplyAdd(x3, a, b);
        }

        return x0 + x1 + x2 + x3;
    }
}
