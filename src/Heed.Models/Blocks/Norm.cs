using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Heed.Kernels;
namespace Heed.Models.Blocks;

/// <summary>Row normalizations: RMSNorm (Llama) and LayerNorm (GPT-2).</summary>
public static class Norm
{
    /// <summary>
    /// RMSNorm of each row: y = x / sqrt(mean(x²) + ε) ⊙ weight. x [T, C], weight [C] → y [T, C] (y may be x).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rms(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int width, float epsilon)
    {
        for (int t = 0; t < rows; t++)
        {
            ReadOnlySpan<float> xr = x.Slice(t * width, width);
            Span<float> yr = y.Slice(t * width, width);
            float ss = Linear.Dot(xr, xr) / width;
            float inv = 1f / MathF.Sqrt(ss + epsilon);
            for (int j = 0; j < width; j++)
            {
                yr[j] = weight[j] * (inv * xr[j]);
            }
        }
    }

    /// <summary>
    /// LayerNorm of each row: y = (x − mean) / sqrt(var + ε) ⊙ weight + bias, with the biased variance (as PyTorch).
    /// x [T, C], weight [C], bias [C] → y [T, C] (y may be x).
    /// </summary>
    /// <remarks>
    /// Two passes over each row in float32 vectors (the mean, then the sum of squared deviations from it, which does not
    /// cancel as E[x²] − mean² does), two accumulators each, then one pass that normalizes, scales and shifts.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Layer(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, int rows, int width, float epsilon)
    {
        if (rows < 0 || width <= 0 || x.Length < (long)rows * width || y.Length < (long)rows * width || weight.Length < width || bias.Length < width)
        {
            throw new ArgumentException($"LayerNorm: X holds {x.Length} and Y {y.Length} of {rows}×{width}, weight {weight.Length}, bias {bias.Length}");
        }

        fixed (float* px = x, pw = weight, pb = bias, py = y)
        {
            if (Vector512.IsHardwareAccelerated) LayerRows<Simd512, Vector512<float>>(px, pw, pb, py, rows, width, epsilon);
            else if (Vector256.IsHardwareAccelerated) LayerRows<Simd256, Vector256<float>>(px, pw, pb, py, rows, width, epsilon);
            else if (Vector128.IsHardwareAccelerated) LayerRows<Simd128, Vector128<float>>(px, pw, pb, py, rows, width, epsilon);
            else LayerRows<SimdScalar, float>(px, pw, pb, py, rows, width, epsilon);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void LayerRows<TOps, TV>(float* x, float* weight, float* bias, float* y, int rows, int width, float epsilon)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        for (int t = 0; t < rows; t++)
        {
            float* xr = x + ((long)t * width), yr = y + ((long)t * width);

            // pass 1: mean
            TV s0 = TOps.Zero, s1 = TOps.Zero;
            int j = 0;
            for (; j + (2 * w) <= width; j += 2 * w)
            {
                s0 = TOps.Add(s0, TOps.Load(xr + j));
                s1 = TOps.Add(s1, TOps.Load(xr + j + w));
            }

            for (; j + w <= width; j += w) s0 = TOps.Add(s0, TOps.Load(xr + j));
            float sum = TOps.SumAcross(TOps.Add(s0, s1));
            for (; j < width; j++) sum += xr[j];
            float mean = sum / width;

            // pass 2: Σ (x − mean)²
            TV m = TOps.Splat(mean);
            s0 = TOps.Zero;
            s1 = TOps.Zero;
            j = 0;
            for (; j + (2 * w) <= width; j += 2 * w)
            {
                TV d0 = TOps.Subtract(TOps.Load(xr + j), m), d1 = TOps.Subtract(TOps.Load(xr + j + w), m);
                s0 = TOps.MultiplyAdd(d0, d0, s0);
                s1 = TOps.MultiplyAdd(d1, d1, s1);
            }

            for (; j + w <= width; j += w)
            {
                TV d0 = TOps.Subtract(TOps.Load(xr + j), m);
                s0 = TOps.MultiplyAdd(d0, d0, s0);
            }

            float squares = TOps.SumAcross(TOps.Add(s0, s1));
            for (; j < width; j++) squares += (xr[j] - mean) * (xr[j] - mean);
            float inv = 1f / MathF.Sqrt((squares / width) + epsilon);

            // pass 3: y = (x − mean)·inv·weight + bias
            TV vi = TOps.Splat(inv);
            j = 0;
            for (; j + w <= width; j += w)
            {
                TOps.Store(TOps.MultiplyAdd(TOps.Multiply(TOps.Subtract(TOps.Load(xr + j), m), vi), TOps.Load(weight + j), TOps.Load(bias + j)), yr + j);
            }

            for (; j < width; j++) yr[j] = ((xr[j] - mean) * inv * weight[j]) + bias[j];
        }
    }
}
