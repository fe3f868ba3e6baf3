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
/// NaN gives NaN. The kernels only take exp of values ≤ 0 (scores minus their running maximum).
/// </remarks>
internal static class VectorMath
{
    /// <summary>The tested bound on |exp(x) − e^x| / e^x for −87.336 ≤ x ≤ 88.</summary>
    public const double ExpMaxRelativeError = 1.5e-7;

    /// <summary>Below this exp returns 0: ln(2⁻¹²⁶), the smallest normal float.</summary>
    public const float ExpLow = -87.33654f;

    /// <summary>Above this exp returns +∞.</summary>
    public const float ExpHigh = 88f;

    private const float Log2E = 1.44269504088896341f;
    private const float Ln2High = 0.693359375f;          // 355/512: n·Ln2High is exact for |n| < 2¹⁵
    private const float Ln2Low = -2.12194440e-4f;        // ln 2 − Ln2High
    private const float RoundingMagic = 12582912f;        // 1.5·2²³: adding it rounds to an integer kept in the low mantissa bits

    /// <summary>e^x per lane (see the remarks for the error bound and the special values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TOps, TV>(TV x)
        where TOps : ISimd<TV>
        where TV : struct
        => Exp<TOps, TV>(x, nonPositive: false);

    /// <summary>
    /// e^x per lane for x ≤ 0 or NaN (the online softmax's exp(s − max)): bit for bit <see cref="Exp{TOps, TV}(TV)"/> there,
    /// three operations shorter (no upper clamp, no +∞ select). Positive x is outside its contract.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpNonPositive<TOps, TV>(TV x)
        where TOps : ISimd<TV>
        where TV : struct
        => Exp<TOps, TV>(x, nonPositive: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Exp<TOps, TV>(TV x, bool nonPositive)
        where TOps : ISimd<TV>
        where TV : struct
    {
        // n comes from the clamped x; r from x itself, so a NaN x stays NaN whatever the clamp did with it.
        TV clamped = TOps.MaxNative(x, TOps.Splat(ExpLow));
        if (!nonPositive)
        {
            clamped = TOps.MinNative(clamped, TOps.Splat(ExpHigh));
        }

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
        return nonPositive ? result : TOps.SelectLess(TOps.Splat(ExpHigh), x, TOps.Splat(float.PositiveInfinity), result);
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

    /// <summary>destination[i] = <see cref="ExpNonPositive{TOps, TV}(TV)"/>(source[i]) on the given tier, count a multiple of the tier's width.</summary>
    public static unsafe void ExpNonPositive(SimdTier tier, ReadOnlySpan<float> source, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length);
        fixed (float* x = source, y = destination)
        {
            switch (tier)
            {
                case SimdTier.Vector512: ExpNonPositive<Simd512, Vector512<float>>(x, y, source.Length); break;
                case SimdTier.Vector256: ExpNonPositive<Simd256, Vector256<float>>(x, y, source.Length); break;
                case SimdTier.Vector128: ExpNonPositive<Simd128, Vector128<float>>(x, y, source.Length); break;
                default: ExpNonPositive<SimdScalar, float>(x, y, source.Length); break;
            }
        }
    }

    private static unsafe void ExpNonPositive<TOps, TV>(float* source, float* destination, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int i = 0; i < count; i += TOps.Width)
        {
            TOps.Store(ExpNonPositive<TOps, TV>(TOps.Load(source + i)), destination + i);
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
