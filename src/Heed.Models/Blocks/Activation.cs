using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
namespace Heed.Models.Blocks;

/// <summary>Elementwise activations of transformer feed-forward layers.</summary>
public static class Activation
{
    /// <summary>SwiGLU in place: gate ← silu(gate) ⊙ up, with silu(x) = x / (1 + e^(−x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length)
        {
            throw new ArgumentException($"SwiGLU: up holds {up.Length} values; gate holds {gate.Length}", nameof(up));
        }

        int lanes = Vector<float>.Count, i = 0;
        ref float g0 = ref MemoryMarshal.GetReference(gate);
        ref float u0 = ref MemoryMarshal.GetReference(up);
        for (; i <= gate.Length - lanes; i += lanes)
        {
            Vector<float> g = Vector.LoadUnsafe(ref g0, (nuint)i);
            Vector<float> silu = g * (Vector<float>.One / (Vector<float>.One + VectorMath.Exp(-g)));
            (silu * Vector.LoadUnsafe(ref u0, (nuint)i)).StoreUnsafe(ref g0, (nuint)i);
        }

        if (i < gate.Length)
        {
            // The tail goes through the same vector code, padded with zeros (silu(0)·0 = 0, discarded).
            Span<float> gateTail = stackalloc float[lanes], upTail = stackalloc float[lanes];
            gateTail.Clear();
            upTail.Clear();
            gate[i..].CopyTo(gateTail);
            up[i..gate.Length].CopyTo(upTail);
            SwiGlu(gateTail, upTail);
            gateTail[..(gate.Length - i)].CopyTo(gate[i..]);
        }
    }

    /// <summary>GELU, tanh approximation, in place: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's <c>gelu_new</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluTanh(Span<float> x)
    {
        const float Sqrt2OverPi = 0.7978845608028654f;
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            x[i] = 0.5f * v * (1f + MathF.Tanh(Sqrt2OverPi * (v + (0.044715f * v * v * v))));
        }
    }

    /// <summary>GELU, exact, in place: x·Φ(x) = 0.5·x·(1 + erf(x/√2)).</summary>
    public static void GeluErf(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            x[i] = (float)(0.5 * v * (1 + Erf(v / Math.Sqrt(2))));
        }
    }

    /// <summary>
    /// GELU, exact form, in place, in float32 vectors: 0.5·x·(1 + erf(x/√2)) with erf by Abramowitz and Stegun's 7.1.26,
    /// erf(z) = 1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^(−z²), t = 1/(1 + p·z) for z ≥ 0 (odd for z &lt; 0), whose error is below
    /// 1.5e-7: the result is within 1e-7·(1 + |x|) of <see cref="GeluErf"/>, at a small fraction of its cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluErfFast(Span<float> x)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(x[i..]);
                Vector<float> z = Vector.Abs(v) * new Vector<float>(0.70710678118654752f);
                Vector<float> t = Vector<float>.One / Vector.FusedMultiplyAdd(z, new Vector<float>(0.3275911f), Vector<float>.One);
                Vector<float> p = new(1.061405429f);
                p = Vector.FusedMultiplyAdd(p, t, new Vector<float>(-1.453152027f));
                p = Vector.FusedMultiplyAdd(p, t, new Vector<float>(1.421413741f));
                p = Vector.FusedMultiplyAdd(p, t, new Vector<float>(-0.284496736f));
                p = Vector.FusedMultiplyAdd(p, t, new Vector<float>(0.254829592f));
                Vector<float> erf = Vector<float>.One - (p * t * VectorMath.Exp(-(z * z)));
                erf = Vector.ConditionalSelect(Vector.LessThan(v, Vector<float>.Zero), -erf, erf);
                (new Vector<float>(0.5f) * v * (Vector<float>.One + erf)).CopyTo(x[i..]);
            }
        }

        GeluErf(x[i..]);
    }

    /// <summary>The error function, to about 1e-15 relative (series near 0, continued fraction for the tail).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        double result;
        if (ax < 2.5)
        {
            // Maclaurin series: erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)).
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 100; n++)
            {
                term *= -x2 / n;
                double add = term / ((2 * n) + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }

            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else if (ax < 27)
        {
            // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))) evaluated bottom-up.
            double f = ax;
            for (int n = 60; n >= 1; n--)
            {
                f = ax + (n / 2.0 / f);
            }

            result = 1 - (Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f);
        }
        else
        {
            result = 1;
        }

        return x < 0 ? -result : result;
    }
}
