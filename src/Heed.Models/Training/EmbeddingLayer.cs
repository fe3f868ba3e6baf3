using System.Numerics;

namespace Heed.Models.Training;

/// <summary>GPT-2's input: token embedding plus learned position embedding, and its backward pass.</summary>
public static class EmbeddingLayer
{
    /// <summary>
    /// x[b, t] = wte[token[b, t]] + wpe[t]. tokens [B, T] (ids below V), wte [V, C], wpe [context ≥ T, C] → x [B·T, C].
    /// </summary>
    public static void Forward<T>(int[] tokens, T[] wte, T[] wpe, T[] x, int batch, int length, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(wte);
        ArgumentNullException.ThrowIfNull(wpe);
        ArgumentNullException.ThrowIfNull(x);
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < length; t++)
            {
                int row = (b * length) + t;
                ReadOnlySpan<T> te = wte.AsSpan(tokens[row] * width, width), pe = wpe.AsSpan(t * width, width);
                Span<T> xr = x.AsSpan(row * width, width);
                for (int j = 0; j < width; j++) xr[j] = te[j] + pe[j];
            }
        }
    }

    /// <summary>
    /// The backward pass, accumulating in a fixed order: dwte[token[b, t]] += dx[b, t], dwpe[t] += dx[b, t].
    /// dx [B·T, C] → dwte [V, C], dwpe [context, C].
    /// </summary>
    public static void Backward<T>(int[] tokens, T[] dx, T[] dWte, T[] dWpe, int batch, int length, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(dx);
        ArgumentNullException.ThrowIfNull(dWte);
        ArgumentNullException.ThrowIfNull(dWpe);
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < length; t++)
            {
                int row = (b * length) + t;
                ReadOnlySpan<T> g = dx.AsSpan(row * width, width);
                DenseLayer.Axpy(T.One, g, dWte.AsSpan(tokens[row] * width, width));
                DenseLayer.Axpy(T.One, g, dWpe.AsSpan(t * width, width));
            }
        }
    }
}
