using System.Numerics;

namespace Heed.Models.Training;

/// <summary>The MLP's activations with their backward passes: GELU (tanh approximation, GPT-2's <c>gelu_new</c>) and SwiGLU.</summary>
public static class ActivationLayer
{
    private const double Sqrt2OverPi = 0.7978845608028654;
    private const double Cubic = 0.044715;

    /// <summary>y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), element by element. x [n] → y [n].</summary>
    public static void GeluForward<T>(T[] x, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        T half = T.CreateTruncating(0.5), k = T.CreateTruncating(Sqrt2OverPi), c = T.CreateTruncating(Cubic);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            y[i] = half * v * (T.One + T.Tanh(k * (v + (c * v * v * v))));
        }
    }

    /// <summary>
    /// The backward pass of <see cref="GeluForward"/>, accumulating: with u = √(2/π)·(x + 0.044715·x³),
    /// dx += dy·(0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)). dy [n], x [n] → dx [n].
    /// </summary>
    public static void GeluBackward<T>(T[] dy, T[] x, T[] dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(dx);
        T half = T.CreateTruncating(0.5), k = T.CreateTruncating(Sqrt2OverPi), c = T.CreateTruncating(Cubic), c3 = T.CreateTruncating(3 * Cubic);
        for (int i = 0; i < x.Length; i++)
        {
            T v = x[i];
            T t = T.Tanh(k * (v + (c * v * v * v)));
            T slope = (half * (T.One + t)) + (half * v * (T.One - (t * t)) * k * (T.One + (c3 * v * v)));
            dx[i] += dy[i] * slope;
        }
    }

    /// <summary>SwiGLU: y = silu(a) ⊙ b with silu(a) = a·σ(a). a [n], b [n] → y [n].</summary>
    public static void SwiGluForward<T>(T[] a, T[] b, T[] y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(y);
        for (int i = 0; i < a.Length; i++)
        {
            T sigma = T.One / (T.One + T.Exp(-a[i]));
            y[i] = a[i] * sigma * b[i];
        }
    }

    /// <summary>
    /// The backward pass of <see cref="SwiGluForward"/>, accumulating: da += dy·b·σ(a)·(1 + a·(1 − σ(a))), db += dy·silu(a).
    /// dy [n], a [n], b [n] → da [n], db [n].
    /// </summary>
    public static void SwiGluBackward<T>(T[] dy, T[] a, T[] b, T[] da, T[] db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(da);
        ArgumentNullException.ThrowIfNull(db);
        for (int i = 0; i < a.Length; i++)
        {
            T sigma = T.One / (T.One + T.Exp(-a[i]));
            da[i] += dy[i] * b[i] * sigma * (T.One + (a[i] * (T.One - sigma)));
            db[i] += dy[i] * a[i] * sigma;
        }
    }
}
