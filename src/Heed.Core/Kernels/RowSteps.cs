using System.Runtime.CompilerServices;

namespace Heed.Kernels;

/// <summary>
/// The per-row steps every kernel shares, on a row of scores for keys [j0, j0 + count): softcap, bias, and the
/// online-softmax update (running maximum m and sum l, FlashAttention-2, Dao 2023).
/// </summary>
internal static unsafe class RowSteps
{
    /// <summary>
    /// Softcap, then the bias: keys outside [lo, hi] get + (−∞) (so NaN and +∞ scores turn NaN, as in the reference),
    /// keys inside get the attn_mask value. Returns true when some key's bias is not −∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static bool SoftcapAndBias<TOps, TV>(KernelCall call, float* row, int count, int j0, int b, int h, int i, int lo, int hi)
        where TOps : ISimd<TV>
        where TV : struct
    {
        if (call.Softcap > 0)
        {
            Softcap<TOps, TV>(row, count, call.Softcap);
        }

        return Bias<TOps, TV>(call, row, count, j0, b, h, i, lo, hi);
    }

    /// <summary>The bias alone (see <see cref="SoftcapAndBias"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static bool Bias<TOps, TV>(KernelCall call, float* row, int count, int j0, int b, int h, int i, int lo, int hi)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int last = j0 + count - 1;
        if (j0 < lo || last > hi)
        {
            int k = 0;
            for (; k <= count - TOps.Width; k += TOps.Width)
            {
                TOps.Store(TOps.MaskOutside(TOps.Load(row + k), j0 + k, lo, hi), row + k);
            }

            for (; k < count; k++)
            {
                row[k] = SimdScalar.MaskOutside(row[k], j0 + k, lo, hi);
            }
        }

        int first = Math.Max(j0, lo), end = Math.Min(last, hi);
        if (first > end)
        {
            return false;
        }

        return !call.Bias.HasMask || call.Bias.AddMask(b, h, i, first, end - first + 1, row + (first - j0));
    }

    /// <summary>row = c·tanh(row / c).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void Softcap<TOps, TV>(float* row, int count, float cap)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV c = TOps.Splat(cap), inverse = TOps.Splat(1f / cap);
        int k = 0;
        for (; k <= count - TOps.Width; k += TOps.Width)
        {
            TOps.Store(TOps.Multiply(c, VectorMath.Tanh<TOps, TV>(TOps.Multiply(TOps.Load(row + k), inverse))), row + k);
        }

        for (; k < count; k++)
        {
            row[k] = cap * VectorMath.Tanh<SimdScalar, float>(row[k] * (1f / cap));
        }
    }

    /// <summary>
    /// One online-softmax step: m' = max(m, max(row)); row ← exp(row − m'); l ← l·e^(m−m') + Σ row; m ← m'.
    /// Returns the factor e^(m−m') the running output must be multiplied by. When every score so far is −∞ the row is
    /// zeroed and 1 is returned (exp(−∞ − (−∞)) would be NaN; the caller decides at the end whether the row was open).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static float Update<TOps, TV>(float* row, int count, ref float m, ref float l)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int k = 0;
        float max = float.NegativeInfinity;
        if (count >= TOps.Width)
        {
            TV vmax = TOps.Load(row);
            for (k = TOps.Width; k <= count - TOps.Width; k += TOps.Width)
            {
                vmax = TOps.MaxNative(vmax, TOps.Load(row + k));
            }

            max = TOps.MaxAcross(vmax);
        }

        for (; k < count; k++)
        {
            max = row[k] > max ? row[k] : max;
        }

        // The hardware max may pass over a NaN; that is harmless (exp(NaN − m) is NaN and poisons l) except when it
        // makes the row look empty, so an "all −∞" row is checked for NaN before it is skipped.
        float mNew = m > max ? m : max;
        if (mNew == float.NegativeInfinity)
        {
            Span<float> scores = new(row, count);
            bool poisoned = scores.ContainsAnyExcept(float.NegativeInfinity);
            scores.Clear();
            if (poisoned)
            {
                m = float.NaN;
                l = float.NaN;
                return float.NaN;
            }

            return 1f;
        }

        float alpha = VectorMath.Exp<SimdScalar, float>(m - mNew);
        TV vm = TOps.Splat(mNew);
        TV sum = TOps.Zero;
        k = 0;
        for (; k <= count - TOps.Width; k += TOps.Width)
        {
            TV p = VectorMath.Exp<TOps, TV>(TOps.Subtract(TOps.Load(row + k), vm));
            TOps.Store(p, row + k);
            sum = TOps.Add(sum, p);
        }

        float total = TOps.SumAcross(sum);
        for (; k < count; k++)
        {
            float p = VectorMath.Exp<SimdScalar, float>(row[k] - mNew);
            row[k] = p;
            total += p;
        }

        l = (l * alpha) + total;
        m = mNew;
        return alpha;
    }

    /// <summary>True when the first <paramref name="n"/> floats of each of <paramref name="count"/> rows (<paramref name="stride"/> apart) are finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static bool AllFiniteRows<TOps, TV>(float* data, int stride, int count, int n)
        where TOps : ISimd<TV>
        where TV : struct
    {
        // x − x is 0 for a finite x and NaN for ±∞ and NaN; the sum of them stays 0 only when all are finite. Four sums, so
        // the additions do not wait on each other.
        int w = TOps.Width;
        TV acc0 = TOps.Zero, acc1 = TOps.Zero, acc2 = TOps.Zero, acc3 = TOps.Zero;
        float tail = 0;
        for (int k = 0; k < count; k++)
        {
            float* row = data + ((long)k * stride);
            int e = 0;
            for (; e <= n - (4 * w); e += 4 * w)
            {
                TV x0 = TOps.Load(row + e), x1 = TOps.Load(row + e + w), x2 = TOps.Load(row + e + (2 * w)), x3 = TOps.Load(row + e + (3 * w));
                acc0 = TOps.Add(acc0, TOps.Subtract(x0, x0));
                acc1 = TOps.Add(acc1, TOps.Subtract(x1, x1));
                acc2 = TOps.Add(acc2, TOps.Subtract(x2, x2));
                acc3 = TOps.Add(acc3, TOps.Subtract(x3, x3));
            }

            for (; e <= n - w; e += w)
            {
                TV x = TOps.Load(row + e);
                acc0 = TOps.Add(acc0, TOps.Subtract(x, x));
            }

            for (; e < n; e++) tail += row[e] - row[e];
        }

        return TOps.SumAcross(TOps.Add(TOps.Add(acc0, acc1), TOps.Add(acc2, acc3))) + tail == 0;
    }

    /// <summary>o ← o·alpha + Σ_j p[j]·v[j] over the keys whose p is not exactly 0 (so a masked key's NaN/∞ value cannot leak); n a multiple of the width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void AccumulateSkippingZeros<TOps, TV>(float* o, float alpha, float* p, int count, float* v, int ldv, int n)
        where TOps : ISimd<TV>
        where TV : struct
    {
        if (alpha == 0)
        {
            new Span<float>(o, n).Clear();
        }
        else if (alpha != 1)
        {
            TV a = TOps.Splat(alpha);
            for (int e = 0; e < n; e += TOps.Width) TOps.Store(TOps.Multiply(TOps.Load(o + e), a), o + e);
        }

        for (int j = 0; j < count; j++)
        {
            if (p[j] == 0)
            {
                continue;
            }

            TV pj = TOps.Splat(p[j]);
            float* vj = v + ((long)j * ldv);
            for (int e = 0; e < n; e += TOps.Width)
            {
                TOps.Store(TOps.MultiplyAdd(pj, TOps.Load(vj + e), TOps.Load(o + e)), o + e);
            }
        }
    }
}
