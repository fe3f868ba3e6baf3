using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// exp and tanh on registers of any <see cref="ISimd{TV}"/> tier, with the same algorithm (and so the same error) on every tier.
/// </summary>
/// <remarks>
/// exp(x) = 2ⁿ · e^r with n = round(x·log₂e) and r = x − n·ln 2 (Cody–Waite: ln 2 split in two parts so n·ln2_hi is exact),
/// |r| ≤ ln2/2, and e^r by its Taylor polynomial of degree 7 (truncation error below 5.3e-9 relative). Measured on 2²⁰
/// points across [−87.3, 88] plus the reduction's rounding boundaries, the largest relative error is 7.6e-8 (0.64 ulp);
/// the tests hold every tier to <see cref="ExpMaxRelativeError"/> = 1.5e-7 (about 1.3 ulp).
/// Outside the range: x &lt; −87.336 (where e^x falls below the smallest normal float) gives 0, x &gt; 88 gives +∞,
/// NaN gives NaN.
/// <para>
/// The flash kernel's online softmax uses <see cref="Exp2NonPositive{TOps, TV}(TV)"/> instead, on t = s·log₂e − m·log₂e (one FMA per
/// score): n = round(t) and r = t − n are exact, 2^r comes from a degree-6 minimax polynomial on [−½, ½] (truncation 1.9e-9), and
/// 2ⁿ is applied by AVX-512's scalef (elsewhere by two products, the first exact, so the result is bit for bit the same on every
/// tier). Nine operations per register against about sixteen for <see cref="Exp{TOps, TV}(TV)"/>; largest relative error measured
/// over [−126, 0.5] below <see cref="Exp2MaxRelativeError"/>. The extra rounding of m·log₂e costs a relative error of about
/// |m|·2⁻²⁴ in each probability, the same order as the rounding of the float32 score itself.
/// </para>
/// </remarks>
internal static class VectorMath
{
    /// <summary>The tested bound on |exp(x) − e^x| / e^x for −87.336 ≤ x ≤ 88.</summary>
    public const double ExpMaxRelativeError = 1.5e-7;

    /// <summary>Below this exp returns 0: ln(2⁻¹²⁶), the smallest normal float.</summary>
    public const float ExpLow = -87.33654f;

    /// <summary>Above this exp returns +∞.</summary>
    public const float ExpHigh = 88f;

    /// <summary>The tested bound on |Exp2NonPositive(t) − 2^t| / 2^t for −126 ≤ t ≤ 0.5.</summary>
    public const double Exp2MaxRelativeError = 1.5e-7;

    /// <summary>log₂e as a float: the softmax computes e^(s − m) as 2^(s·log₂e − m·log₂e).</summary>
    public const float Log2E = 1.44269504088896341f;

    /// <summary>Exp2NonPositive clamps t here: 2^−151 and anything smaller round to 0.</summary>
    private const float Exp2Low = -151f;

    // Minimax (relative error) polynomial for 2^r on [−½, ½], degree 6, constant term 1: truncation error 1.9e-9.
    private const float Exp2C1 = 0.6931471824645996f;
    private const float Exp2C2 = 0.24022646248340607f;
    private const float Exp2C3 = 0.05550328642129898f;
    private const float Exp2C4 = 0.009618489071726799f;
    private const float Exp2C5 = 0.0013399930903688073f;
    private const float Exp2C6 = 0.0001534581242594868f;
    private const float Ln2High = 0.693359375f;          // 355/512: n·Ln2High is exact for |n| < 2¹⁵
    private const float Ln2Low = -2.12194440e-4f;        // ln 2 − Ln2High
    private const float RoundingMagic = 12582912f;        // 1.5·2²³: adding it rounds to an integer kept in the low mantissa bits

    /// <summary>e^x per lane (see the remarks for the error bound and the special values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TOps, TV>(TV x)
        where TOps : ISimd<TV>
        where TV : struct
    {
        // n comes from the clamped x; r from x itself, so a NaN x stays NaN whatever the clamp did with it.
        TV clamped = TOps.MinNative(TOps.MaxNative(x, TOps.Splat(ExpLow)), TOps.Splat(ExpHigh));
        TV t = TOps.MultiplyAdd(clamped, TOps.Splat(Log2E), TOps.Splat(RoundingMagic));
        TV n = TOps.Subtract(t, TOps.Splat(RoundingMagic));
        TV r = TOps.MultiplyAdd(n, TOps.Splat(-Ln2High), x);
        r = TOps.MultiplyAdd(n, TOps.Splat(-Ln2Low), r);

        // Horner on 1 + r + r²/2! + … + r⁷/7!
        TV p = TOps.Splat(1f / 5040f);
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f / 720f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f / 120f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f / 24f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f / 6f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(0.5f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f));
        TV result = TOps.Multiply(p, TOps.Pow2FromRounded(t));
        result = TOps.SelectLess(x, TOps.Splat(ExpLow), TOps.Zero, result);
        return TOps.SelectLess(TOps.Splat(ExpHigh), x, TOps.Splat(float.PositiveInfinity), result);
    }

    /// <summary>
    /// 2^t per lane for t ≤ 0.5 or NaN: the online softmax's p = 2^(s·log₂e − max·log₂e). See the class remarks for the method
    /// and <see cref="Exp2MaxRelativeError"/>; below 2⁻¹²⁶ the result is subnormal (rounded once), and t ≤ −151 (−∞ included) gives 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp2NonPositive<TOps, TV>(TV t)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV c = TOps.MaxKeepNaN(TOps.Splat(Exp2Low), t);
        TV n = TOps.Round(c);
        TV r = TOps.Subtract(c, n);
        TV p = TOps.Splat(Exp2C6);
        p = TOps.MultiplyAdd(p, r, TOps.Splat(Exp2C5));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(Exp2C4));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(Exp2C3));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(Exp2C2));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(Exp2C1));
        p = TOps.MultiplyAdd(p, r, TOps.Splat(1f));
        return TOps.ScaleByPow2(p, n);
    }

    /// <summary>tanh(x) per lane, as sign(x)·(1 − e)/(1 + e) with e = exp(−2|x|): absolute error below 3e-7; ±∞ → ±1, NaN → NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<TOps, TV>(TV x)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV e = Exp<TOps, TV>(TOps.Multiply(TOps.Abs(x), TOps.Splat(-2f)));
        TV one = TOps.Splat(1f);
        TV magnitude = TOps.Divide(TOps.Subtract(one, e), TOps.Add(one, e));
        return TOps.SelectLess(x, TOps.Zero, TOps.Subtract(TOps.Zero, magnitude), magnitude);
    }

    /// <summary>destination[i] = exp(source[i]) on the given tier (full registers, then one lane at a time with the scalar tier).</summary>
    public static unsafe void Exp<TOps, TV>(float* source, float* destination, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int i = 0;
        for (; i <= count - TOps.Width; i += TOps.Width)
        {
            TOps.Store(Exp<TOps, TV>(TOps.Load(source + i)), destination + i);
        }

        for (; i < count; i++)
        {
            destination[i] = Exp<SimdScalar, float>(source[i]);
        }
    }

    /// <summary>destination[i] = tanh(source[i]) on the given tier.</summary>
    public static unsafe void Tanh<TOps, TV>(float* source, float* destination, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int i = 0;
        for (; i <= count - TOps.Width; i += TOps.Width)
        {
            TOps.Store(Tanh<TOps, TV>(TOps.Load(source + i)), destination + i);
        }

        for (; i < count; i++)
        {
            destination[i] = Tanh<SimdScalar, float>(source[i]);
        }
    }

    /// <summary>destination[i] = exp(source[i]) on the given tier (tiers wider than the hardware run in software).</summary>
    public static unsafe void Exp(SimdTier tier, ReadOnlySpan<float> source, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length);
        fixed (float* x = source, y = destination)
        {
            switch (tier)
            {
                case SimdTier.Vector512: Exp<Simd512, Vector512<float>>(x, y, source.Length); break;
                case SimdTier.Vector256: Exp<Simd256, Vector256<float>>(x, y, source.Length); break;
                case SimdTier.Vector128: Exp<Simd128, Vector128<float>>(x, y, source.Length); break;
                default: Exp<SimdScalar, float>(x, y, source.Length); break;
            }
        }
    }

    /// <summary>destination[i] = <see cref="Exp2NonPositive{TOps, TV}(TV)"/>(source[i]) on the given tier, count a multiple of the tier's width.</summary>
    public static unsafe void Exp2NonPositive(SimdTier tier, ReadOnlySpan<float> source, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length);
        fixed (float* x = source, y = destination)
        {
            switch (tier)
            {
                case SimdTier.Vector512: Exp2NonPositive<Simd512, Vector512<float>>(x, y, source.Length); break;
                case SimdTier.Vector256: Exp2NonPositive<Simd256, Vector256<float>>(x, y, source.Length); break;
                case SimdTier.Vector128: Exp2NonPositive<Simd128, Vector128<float>>(x, y, source.Length); break;
                default: Exp2NonPositive<SimdScalar, float>(x, y, source.Length); break;
            }
        }
    }

    private static unsafe void Exp2NonPositive<TOps, TV>(float* source, float* destination, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int i = 0; i < count; i += TOps.Width)
        {
            TOps.Store(Exp2NonPositive<TOps, TV>(TOps.Load(source + i)), destination + i);
        }
    }

    /// <summary>destination[i] = tanh(source[i]) on the given tier.</summary>
    public static unsafe void Tanh(SimdTier tier, ReadOnlySpan<float> source, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length);
        fixed (float* x = source, y = destination)
        {
            switch (tier)
            {
                case SimdTier.Vector512: Tanh<Simd512, Vector512<float>>(x, y, source.Length); break;
                case SimdTier.Vector256: Tanh<Simd256, Vector256<float>>(x, y, source.Length); break;
                case SimdTier.Vector128: Tanh<Simd128, Vector128<float>>(x, y, source.Length); break;
                default: Tanh<SimdScalar, float>(x, y, source.Length); break;
            }
        }
    }
}
