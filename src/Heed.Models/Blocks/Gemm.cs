using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Heed.Kernels;

namespace Heed.Models.Blocks;

/// <summary>
/// A weight matrix W [in, out] (y = x·W) stored for <see cref="Gemm"/>: strips of 64 columns, each strip's rows back to back
/// ([⌈out/64⌉, in, 64], the last strip padded with zeros), so that a product streams each strip contiguously instead of
/// striding over rows of the whole matrix (strides of 4–6 KiB alias in the L1 cache).
/// </summary>
public sealed class PackedMatrix
{
    /// <summary>Columns per strip.</summary>
    internal const int Strip = 64;

    /// <summary>Packs <paramref name="weight"/>, row-major [in, out].</summary>
    public PackedMatrix(ReadOnlySpan<float> weight, int inFeatures, int outFeatures)
    {
        if (inFeatures <= 0 || outFeatures <= 0 || weight.Length != (long)inFeatures * outFeatures)
        {
            throw new ArgumentException($"PackedMatrix: {weight.Length} values for {inFeatures}×{outFeatures}");
        }

        In = inFeatures;
        Out = outFeatures;
        Strips = (outFeatures + Strip - 1) / Strip;
        Data = new float[Strips * inFeatures * Strip];
        for (int i = 0; i < inFeatures; i++)
        {
            for (int j = 0; j < outFeatures; j++) Data[(((j / Strip) * inFeatures) + i) * Strip + (j % Strip)] = weight[(i * outFeatures) + j];
        }
    }

    /// <summary>in, the rows of W.</summary>
    public int In { get; }

    /// <summary>out, the columns of W.</summary>
    public int Out { get; }

    /// <summary>W[row, column].</summary>
    public float this[int row, int column] => Data[(((column / Strip) * In) + row) * Strip + (column % Strip)];

    internal int Strips { get; }

    internal float[] Data { get; }

    /// <summary>W as a row-major [in, out] array.</summary>
    public float[] ToArray()
    {
        var w = new float[In * Out];
        for (int i = 0; i < In; i++)
        {
            for (int j = 0; j < Out; j++) w[(i * Out) + j] = this[i, j];
        }

        return w;
    }
}

/// <summary>
/// Dense products for many rows at once: Y = X·W (+ bias) (+ Y), on Heed.Core's register-blocked panel kernel
/// (<see cref="PanelGemm"/>: 6 rows of X against 64 columns of W per step on AVX-512, 24 accumulators), one 64-column strip of
/// the packed W at a time, so that the strip stays in L2 while every group of 6 rows reads it; threads take whole strips.
/// </summary>
internal static unsafe class Gemm
{
    // Below this many multiply-adds a call stays on one thread: one sentence's products (8–11 M multiply-adds for MiniLM at
    // T ≈ 19) lost more to the hand-off between two threads than they gained (docs/PERFORMANCE.md, encoders).
    private const long ParallelThreshold = 1L << 25;

    [ThreadStatic]
    private static float[]? _scratch;

    /// <summary>Y = X·W (+ bias) (+ Y when <paramref name="accumulate"/>): X [T, in], W [in, out], bias [out] → Y [T, out].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(ReadOnlySpan<float> x, PackedMatrix weight, ReadOnlySpan<float> bias, Span<float> y, int rows, bool accumulate = false, int threads = 1)
    {
        int k = weight.In, n = weight.Out;
        if (x.Length < (long)rows * k || y.Length < (long)rows * n || (!bias.IsEmpty && bias.Length < n))
        {
            throw new ArgumentException($"Gemm: X holds {x.Length} of {rows}×{k}, Y {y.Length} of {rows}×{n}, bias {bias.Length}");
        }

        if (rows == 0) return;
        int strips = weight.Strips;
        fixed (float* px = x, pw = weight.Data, pb = bias, py = y)
        {
            var call = new Call(px, pw, bias.IsEmpty ? null : pb, py, rows, k, n, accumulate);
            if (threads <= 1 || strips < 2 || (long)rows * k * n < ParallelThreshold)
            {
                for (int s = 0; s < strips; s++) call.Strip(s);
                return;
            }

            int chunks = Math.Min(threads, strips);
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, chunk =>
            {
                for (int s = strips * chunk / chunks; s < strips * (chunk + 1) / chunks; s++) call.Strip(s);
            });
        }
    }

    private readonly struct Call(float* x, float* w, float* bias, float* y, int rows, int k, int n, bool accumulate)
    {
        // One strip: scratch [⌈T/6⌉·6, 64] = X·W[:, strip] by the panel kernel, then Y[:, strip] = (Y) + scratch + bias.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Strip(int strip)
        {
            const int S = PackedMatrix.Strip;
            int first = strip * S, width = Math.Min(S, n - first);
            int padded = (rows + PanelGemm.Rows - 1) / PanelGemm.Rows * PanelGemm.Rows;
            float[] scratch = _scratch is { } s && s.Length >= padded * S ? s : (_scratch = new float[padded * S]);
            float* b = w + ((long)strip * k * S);
            fixed (float* c = scratch)
            {
                if (Vector512.IsHardwareAccelerated) PanelGemm.MultiplyClamped<Simd512, Vector512<float>>(x, k, rows, b, S, c, S, k, S, null);
                else if (Vector256.IsHardwareAccelerated) PanelGemm.MultiplyClamped<Simd256, Vector256<float>>(x, k, rows, b, S, c, S, k, S, null);
                else if (Vector128.IsHardwareAccelerated) PanelGemm.MultiplyClamped<Simd128, Vector128<float>>(x, k, rows, b, S, c, S, k, S, null);
                else PanelGemm.MultiplyClamped<SimdScalar, float>(x, k, rows, b, S, c, S, k, S, null);

                float* br = bias is null ? null : bias + first;
                for (int r = 0; r < rows; r++)
                {
                    float* yr = y + ((long)r * n) + first, cr = c + (r * S);
                    for (int j = 0; j < width; j++)
                    {
                        float v = cr[j] + (br is null ? 0 : br[j]);
                        yr[j] = accumulate ? yr[j] + v : v;
                    }
                }
            }
        }
    }
}
