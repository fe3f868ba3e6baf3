namespace Heed.Models.Blocks;

/// <summary>Elementwise activations of transformer feed-forward layers.</summary>
public static class Activation
{
    /// <summary>SwiGLU in place: gate ← silu(gate) ⊙ up, with silu(x) = x / (1 + e^(−x)).</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g * (1f / (1f + MathF.Exp(-g))) * up[i];
        }
    }

    /// <summary>GELU, tanh approximation, in place: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's <c>gelu_new</c>).</summary>
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
