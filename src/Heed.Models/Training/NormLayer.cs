using System.Numerics;

namespace Heed.Models.Training;

/// <summary>
/// LayerNorm (GPT-2) and RMSNorm (Llama) of each row with their backward passes. The forward saves each row's statistics
/// (mean and 1/σ, or 1/rms) for the backward. Generic over the element type: float32 to train, float64 to check gradients.
/// </summary>
public static class NormLayer
{
    /// <summary>
    /// LayerNorm: y = (x − μ)·rstd ⊙ γ + β with rstd = 1/√(var + ε), the biased variance (as PyTorch).
    /// x [N, C], γ [C], β [C] → y [N, C], mean [N], rstd [N].
    /// </summary>
    public static void LayerForward<T>(T[] x, T[] weight, T[] bias, T[] y, T[] mean, T[] rstd, int rows, int width, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(bias);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(rstd);
        T n = T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xr = x.AsSpan(r * width, width);
            Span<T> yr = y.AsSpan(r * width, width);
            T m = T.Zero;
            for (int j = 0; j < width; j++) m += xr[j];
            m /= n;
            T variance = T.Zero;
            for (int j = 0; j < width; j++)
            {
                T d = xr[j] - m;
                variance += d * d;
            }

            variance /= n;
            T s = T.One / T.Sqrt(variance + epsilon);
            for (int j = 0; j < width; j++) yr[j] = ((xr[j] - m) * s * weight[j]) + bias[j];
            mean[r] = m;
            rstd[r] = s;
        }
    }

    /// <summary>
    /// The backward pass of <see cref="LayerForward"/>, accumulating: with x̂ = (x − μ)·rstd and g = dy ⊙ γ,
    /// dx += rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)), dγ += Σ_rows dy ⊙ x̂, dβ += Σ_rows dy.
    /// dy [N, C], x [N, C], γ [C], mean [N], rstd [N] → dx [N, C], dγ [C], dβ [C].
    /// </summary>
    public static void LayerBackward<T>(T[] dy, T[] x, T[] weight, T[] mean, T[] rstd, T[] dx, T[] dWeight, T[] dBias, int rows, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(rstd);
        ArgumentNullException.ThrowIfNull(dx);
        ArgumentNullException.ThrowIfNull(dWeight);
        ArgumentNullException.ThrowIfNull(dBias);
        T n = T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xr = x.AsSpan(r * width, width), dyr = dy.AsSpan(r * width, width);
            Span<T> dxr = dx.AsSpan(r * width, width);
            T m = mean[r], s = rstd[r], gMean = T.Zero, gxMean = T.Zero;
            for (int j = 0; j < width; j++)
            {
                T xhat = (xr[j] - m) * s;
                T g = dyr[j] * weight[j];
                gMean += g;
                gxMean += g * xhat;
                dWeight[j] += dyr[j] * xhat;
                dBias[j] += dyr[j];
            }

            gMean /= n;
            gxMean /= n;
            for (int j = 0; j < width; j++)
            {
                T xhat = (xr[j] - m) * s;
                dxr[j] += s * ((dyr[j] * weight[j]) - gMean - (xhat * gxMean));
            }
        }
    }

    /// <summary>
    /// RMSNorm: y = x·r ⊙ γ with r = 1/√(mean(x²) + ε). x [N, C], γ [C] → y [N, C], r [N].
    /// </summary>
    public static void RmsForward<T>(T[] x, T[] weight, T[] y, T[] rms, int rows, int width, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(rms);
        T n = T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xr = x.AsSpan(r * width, width);
            Span<T> yr = y.AsSpan(r * width, width);
            T ss = T.Zero;
            for (int j = 0; j < width; j++) ss += xr[j] * xr[j];
            T s = T.One / T.Sqrt((ss / n) + epsilon);
            for (int j = 0; j < width; j++) yr[j] = xr[j] * s * weight[j];
            rms[r] = s;
        }
    }

    /// <summary>
    /// The backward pass of <see cref="RmsForward"/>, accumulating: with g = dy ⊙ γ, dx += r·g − x·r³·mean(g ⊙ x),
    /// dγ += Σ_rows dy ⊙ x·r. dy [N, C], x [N, C], γ [C], r [N] → dx [N, C], dγ [C].
    /// </summary>
    public static void RmsBackward<T>(T[] dy, T[] x, T[] weight, T[] rms, T[] dx, T[] dWeight, int rows, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(rms);
        ArgumentNullException.ThrowIfNull(dx);
        ArgumentNullException.ThrowIfNull(dWeight);
        T n = T.CreateTruncating(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> xr = x.AsSpan(r * width, width), dyr = dy.AsSpan(r * width, width);
            Span<T> dxr = dx.AsSpan(r * width, width);
            T s = rms[r], gx = T.Zero;
            for (int j = 0; j < width; j++)
            {
                gx += dyr[j] * weight[j] * xr[j];
                dWeight[j] += dyr[j] * xr[j] * s;
            }

            gx /= n;
            for (int j = 0; j < width; j++)
            {
                dxr[j] += (s * dyr[j] * weight[j]) - (xr[j] * s * s * s * gx);
            }
        }
    }
}
