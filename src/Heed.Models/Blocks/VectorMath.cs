using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Models.Blocks;

/// <summary>Elementwise math on <see cref="Vector{T}"/> for the model's hot loops.</summary>
internal static class VectorMath
{
    // Cody–Waite split of ln 2: n·Ln2Hi is exact for |n| ≤ 2^9, so r = x − n·ln 2 keeps its low bits.
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float Log2E = 1.44269504088896341f;

    // Below this e^x is not a normal float32; above it e^x overflows.
    private const float Smallest = -87.33654f;
    private const float Largest = 88.72284f;

    /// <summary>
    /// e^x per lane, within a few units in the last place: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
    /// polynomial of degree 7 (truncation error below 6e-9 relative), times 2^n built in the exponent bits.
    /// Results that would be subnormal are 0; −∞ gives 0, +∞ gives +∞, NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> Exp(Vector<float> x)
    {
        Vector<float> n = Vector.Round(x * Log2E);
        n = Vector.ConditionalSelect(Vector.LessThan(n, new Vector<float>(-126f)), new Vector<float>(-126f), n);
        n = Vector.ConditionalSelect(Vector.GreaterThan(n, new Vector<float>(127f)), new Vector<float>(127f), n);
        Vector<float> r = Vector.FusedMultiplyAdd(n, new Vector<float>(-Ln2Hi), x);
        r = Vector.FusedMultiplyAdd(n, new Vector<float>(-Ln2Lo), r);

        Vector<float> p = new(1f / 5040);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 720));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 120));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 24));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 6));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(0.5f));
        p = Vector.FusedMultiplyAdd(p, r, Vector<float>.One);
        p = Vector.FusedMultiplyAdd(p, r, Vector<float>.One);

        Vector<int> exponent = Vector.ShiftLeft(Vector.ConvertToInt32(n) + new Vector<int>(127), 23);
        Vector<float> y = p * Vector.As<int, float>(exponent);
        y = Vector.ConditionalSelect(Vector.LessThan(x, new Vector<float>(Smallest)), Vector<float>.Zero, y);
        return Vector.ConditionalSelect(Vector.GreaterThan(x, new Vector<float>(Largest)), new Vector<float>(float.PositiveInfinity), y);
    }

    /// <summary>
    /// The sum of the 16 lanes in four folds (halves, quarters, then two shuffles): 8 instructions where
    /// <c>Vector512.Sum</c> compiles to 28, for the end of each row of a decode product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector512<float> a) => SumAcross(a.GetLower() + a.GetUpper());

    /// <summary>The sum of the 8 lanes in three folds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector256<float> h)
    {
        Vector128<float> q = h.GetLower() + h.GetUpper();
        q += Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1));
        q += Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2));
        return q.ToScalar();
    }
}
