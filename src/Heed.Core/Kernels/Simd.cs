using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Heed.Kernels;

/// <summary>
/// The vector operations the kernels are written in, one implementation per instruction-set tier
/// (512, 256, 128 bits and scalar), in the operator-struct style of System.Numerics.Tensors: kernels are generic
/// over a struct implementing this interface, so the JIT compiles one specialized copy per tier with every call inlined.
/// </summary>
/// <typeparam name="TV">The register type: <see cref="Vector512{T}"/>, <see cref="Vector256{T}"/>, <see cref="Vector128{T}"/> or <see cref="float"/>.</typeparam>
internal unsafe interface ISimd<TV>
    where TV : struct
{
    /// <summary>Floats per register.</summary>
    static abstract int Width { get; }

    /// <summary>True when the tier has 32 registers (AVX-512), so the matrix kernels can keep 24 accumulators.</summary>
    static abstract bool WideRegisterFile { get; }

    /// <summary>All lanes 0.</summary>
    static abstract TV Zero { get; }

    /// <summary>All lanes <paramref name="value"/>.</summary>
    static abstract TV Splat(float value);

    /// <summary>Reads <see cref="Width"/> floats.</summary>
    static abstract TV Load(float* source);

    /// <summary>Writes <see cref="Width"/> floats.</summary>
    static abstract void Store(TV value, float* destination);

    /// <summary>a + b.</summary>
    static abstract TV Add(TV a, TV b);

    /// <summary>a − b.</summary>
    static abstract TV Subtract(TV a, TV b);

    /// <summary>a · b.</summary>
    static abstract TV Multiply(TV a, TV b);

    /// <summary>a / b.</summary>
    static abstract TV Divide(TV a, TV b);

    /// <summary>a · b + c, fused (one rounding).</summary>
    static abstract TV MultiplyAdd(TV a, TV b, TV c);

    /// <summary>The larger lane; which operand a NaN lane yields is the hardware's choice (callers do not depend on it).</summary>
    static abstract TV MaxNative(TV a, TV b);

    /// <summary>The smaller lane; NaN handling as <see cref="MaxNative"/>.</summary>
    static abstract TV MinNative(TV a, TV b);

    /// <summary>|x|.</summary>
    static abstract TV Abs(TV x);

    /// <summary>Per lane: x &lt; limit ? ifLess : otherwise (false for NaN lanes).</summary>
    static abstract TV SelectLess(TV x, TV limit, TV ifLess, TV otherwise);

    /// <summary>Per lane: a == b ? ifEqual : otherwise.</summary>
    static abstract TV SelectEqual(TV a, TV b, TV ifEqual, TV otherwise);

    /// <summary>2^n as a float, where t = n + 1.5·2²³ (so the low bits of t hold n): bits ((bits(t) + 127) &lt;&lt; 23).</summary>
    static abstract TV Pow2FromRounded(TV t);

    /// <summary>x rounded to the nearest integer, ties to even.</summary>
    static abstract TV Round(TV x);

    /// <summary>x·2ⁿ rounded once, for integral n in [−190, 63] (AVX-512's scalef; two exact-then-rounding products elsewhere).</summary>
    static abstract TV ScaleByPow2(TV x, TV n);

    /// <summary>max(limit, x) per lane, and x itself where x is NaN (a NaN must survive a clamp).</summary>
    static abstract TV MaxKeepNaN(TV limit, TV x);

    /// <summary>The largest lane (NaN handling as <see cref="MaxNative"/>).</summary>
    static abstract float MaxAcross(TV x);

    /// <summary>The sum of the lanes.</summary>
    static abstract float SumAcross(TV x);

    /// <summary>Lanes whose index (<paramref name="first"/> + lane) lies outside [lo, hi] become x + (−∞); the others stay x.</summary>
    static abstract TV MaskOutside(TV x, int first, int lo, int hi);

    /// <summary>Lane i = source[i·stride] (a gather: transposes rows into lanes).</summary>
    static abstract TV LoadStrided(float* source, int stride);

    /// <summary>
    /// destination[j·destinationStride + i] = factor·source[i·stride + j] for i, j &lt; <see cref="Width"/>: one square block
    /// transposed in registers (rows of Q into the lanes of Qᵀ).
    /// </summary>
    static abstract void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor);

    /// <summary>The sums across the lanes of four registers, stored to destination[0..3] (one reduction tree for all four).</summary>
    static abstract void SumAcross4(TV a, TV b, TV c, TV d, float* destination);
}

/// <summary>AVX-512: 16 floats per register, 32 registers.</summary>
internal readonly unsafe struct Simd512 : ISimd<Vector512<float>>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SumAcross4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* destination) =>
        Simd256.SumAcross4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper(), destination);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadStrided(float* source, int stride)
    {
        if (Avx2.IsSupported)
        {
            Vector256<int> index = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride;
            return Vector512.Create(Avx2.GatherVector256(source, index, 4), Avx2.GatherVector256(source + (8 * stride), index, 4));
        }

        return Vector512.Create(Simd256.LoadStrided(source, stride), Simd256.LoadStrided(source + (8 * stride), stride));
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor)
    {
        if (!Avx512F.IsSupported)
        {
            SimdScalar.TransposeScaled(source, stride, destination, destinationStride, factor, 16);
            return;
        }

        // Three rounds of shuffles on 16 rows: pairs of floats (unpack), pairs of pairs (unpack as doubles), then 128-bit
        // quarters (two shuffles), so u[4q + c] holds rows 4q..4q+3 of columns c, c + 4, c + 8, c + 12 in its quarters.
        Quads(source, stride, out Vector512<float> u0, out Vector512<float> u1, out Vector512<float> u2, out Vector512<float> u3);
        Quads(source + (4 * stride), stride, out Vector512<float> u4, out Vector512<float> u5, out Vector512<float> u6, out Vector512<float> u7);
        Quads(source + (8 * stride), stride, out Vector512<float> u8, out Vector512<float> u9, out Vector512<float> u10, out Vector512<float> u11);
        Quads(source + (12 * stride), stride, out Vector512<float> u12, out Vector512<float> u13, out Vector512<float> u14, out Vector512<float> u15);
        Vector512<float> scale = Vector512.Create(factor);
        long step = destinationStride;
        Columns(u0, u4, u8, u12, scale, destination, step);
        Columns(u1, u5, u9, u13, scale, destination + step, step);
        Columns(u2, u6, u10, u14, scale, destination + (2 * step), step);
        Columns(u3, u7, u11, u15, scale, destination + (3 * step), step);
    }

    /// <summary>Four rows into u0..u3: u_c holds, in 128-bit quarter k, the four rows' elements 4k + c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quads(float* r, int stride, out Vector512<float> u0, out Vector512<float> u1, out Vector512<float> u2, out Vector512<float> u3)
    {
        Vector512<float> r0 = Vector512.Load(r), r1 = Vector512.Load(r + stride), r2 = Vector512.Load(r + (2 * stride)), r3 = Vector512.Load(r + (3 * stride));
        Vector512<double> t0 = Avx512F.UnpackLow(r0, r1).AsDouble(), t1 = Avx512F.UnpackHigh(r0, r1).AsDouble();
        Vector512<double> t2 = Avx512F.UnpackLow(r2, r3).AsDouble(), t3 = Avx512F.UnpackHigh(r2, r3).AsDouble();
        u0 = Avx512F.UnpackLow(t0, t2).AsSingle();
        u1 = Avx512F.UnpackHigh(t0, t2).AsSingle();
        u2 = Avx512F.UnpackLow(t1, t3).AsSingle();
        u3 = Avx512F.UnpackHigh(t1, t3).AsSingle();
    }

    /// <summary>Output columns c, c + 4, c + 8, c + 12 (destination rows 0, 4, 8, 12 from <paramref name="destination"/>) from the quads of rows 0–3, 4–7, 8–11, 12–15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, Vector512<float> scale, float* destination, long step)
    {
        Vector512<float> low01 = Avx512F.Shuffle4x128(a, b, 0x44), high01 = Avx512F.Shuffle4x128(a, b, 0xEE);
        Vector512<float> low23 = Avx512F.Shuffle4x128(c, d, 0x44), high23 = Avx512F.Shuffle4x128(c, d, 0xEE);
        (Avx512F.Shuffle4x128(low01, low23, 0x88) * scale).Store(destination);
        (Avx512F.Shuffle4x128(low01, low23, 0xDD) * scale).Store(destination + (4 * step));
        (Avx512F.Shuffle4x128(high01, high23, 0x88) * scale).Store(destination + (8 * step));
        (Avx512F.Shuffle4x128(high01, high23, 0xDD) * scale).Store(destination + (12 * step));
    }

    private static readonly Vector512<int> Lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    public static int Width => Vector512<float>.Count;

    public static bool WideRegisterFile => true;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Splat(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaxNative(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MinNative(Vector512<float> a, Vector512<float> b) => Vector512.MinNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Abs(Vector512<float> x) => Vector512.Abs(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SelectLess(Vector512<float> x, Vector512<float> limit, Vector512<float> ifLess, Vector512<float> otherwise) =>
        Vector512.ConditionalSelect(Vector512.LessThan(x, limit), ifLess, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SelectEqual(Vector512<float> a, Vector512<float> b, Vector512<float> ifEqual, Vector512<float> otherwise) =>
        Vector512.ConditionalSelect(Vector512.Equals(a, b), ifEqual, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2FromRounded(Vector512<float> t) =>
        Vector512.ShiftLeft(t.AsInt32() + Vector512.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Round(Vector512<float> x) => Vector512.Round(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaxKeepNaN(Vector512<float> limit, Vector512<float> x) => Avx512F.IsSupported ? Avx512F.Max(limit, x) : Vector512.Max(limit, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScaleByPow2(Vector512<float> x, Vector512<float> n) =>
        Avx512F.IsSupported ? Avx512F.Scale(x, n) : x * Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127 + 64), 23).AsSingle() * Vector512.Create(5.421010862427522E-20f /* 2⁻⁶⁴ */);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> x)
    {
        Vector256<float> m = Vector256.MaxNative(x.GetLower(), x.GetUpper());
        return Simd256.MaxAcross(m);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector512<float> x) => Vector512.Sum(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaskOutside(Vector512<float> x, int first, int lo, int hi)
    {
        Vector512<int> index = Lanes + Vector512.Create(first);
        Vector512<int> outside = Vector512.LessThan(index, Vector512.Create(lo)) | Vector512.GreaterThan(index, Vector512.Create(hi));
        return x + Vector512.ConditionalSelect(outside.AsSingle(), Vector512.Create(float.NegativeInfinity), Vector512<float>.Zero);
    }
}

/// <summary>AVX2: 8 floats per register, 16 registers.</summary>
internal readonly unsafe struct Simd256 : ISimd<Vector256<float>>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SumAcross4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d, float* destination) =>
        Simd128.SumAcross4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper(), destination);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor)
    {
        if (!Avx.IsSupported)
        {
            SimdScalar.TransposeScaled(source, stride, destination, destinationStride, factor, 8);
            return;
        }

        // Pairs of floats, pairs of pairs (as doubles), then 128-bit halves: u[4q + c] holds rows 4q..4q+3 of columns c, c + 4.
        var u = stackalloc Vector256<float>[8];
        for (int q = 0; q < 2; q++)
        {
            float* r = source + ((long)4 * q * stride);
            Vector256<float> r0 = Vector256.Load(r), r1 = Vector256.Load(r + stride), r2 = Vector256.Load(r + (2 * stride)), r3 = Vector256.Load(r + (3 * stride));
            Vector256<double> t0 = Avx.UnpackLow(r0, r1).AsDouble(), t1 = Avx.UnpackHigh(r0, r1).AsDouble();
            Vector256<double> t2 = Avx.UnpackLow(r2, r3).AsDouble(), t3 = Avx.UnpackHigh(r2, r3).AsDouble();
            u[(4 * q) + 0] = Avx.UnpackLow(t0, t2).AsSingle();
            u[(4 * q) + 1] = Avx.UnpackHigh(t0, t2).AsSingle();
            u[(4 * q) + 2] = Avx.UnpackLow(t1, t3).AsSingle();
            u[(4 * q) + 3] = Avx.UnpackHigh(t1, t3).AsSingle();
        }

        Vector256<float> scale = Vector256.Create(factor);
        for (int c = 0; c < 4; c++)
        {
            (Avx.Permute2x128(u[c], u[4 + c], 0x20) * scale).Store(destination + ((long)c * destinationStride));
            (Avx.Permute2x128(u[c], u[4 + c], 0x31) * scale).Store(destination + ((long)(c + 4) * destinationStride));
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadStrided(float* source, int stride)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.GatherVector256(source, Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride, 4);
        }

        return Vector256.Create(Simd128.LoadStrided(source, stride), Simd128.LoadStrided(source + (4 * stride), stride));
    }

    private static readonly Vector256<int> Lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);

    public static int Width => Vector256<float>.Count;

    public static bool WideRegisterFile => false;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Splat(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxNative(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MinNative(Vector256<float> a, Vector256<float> b) => Vector256.MinNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Abs(Vector256<float> x) => Vector256.Abs(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SelectLess(Vector256<float> x, Vector256<float> limit, Vector256<float> ifLess, Vector256<float> otherwise) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, limit), ifLess, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SelectEqual(Vector256<float> a, Vector256<float> b, Vector256<float> ifEqual, Vector256<float> otherwise) =>
        Vector256.ConditionalSelect(Vector256.Equals(a, b), ifEqual, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2FromRounded(Vector256<float> t) =>
        Vector256.ShiftLeft(t.AsInt32() + Vector256.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Round(Vector256<float> x) => Vector256.Round(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaxKeepNaN(Vector256<float> limit, Vector256<float> x) => Avx.IsSupported ? Avx.Max(limit, x) : Vector256.Max(limit, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ScaleByPow2(Vector256<float> x, Vector256<float> n) =>
        x * Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127 + 64), 23).AsSingle() * Vector256.Create(5.421010862427522E-20f /* 2⁻⁶⁴ */);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> x) => Simd128.MaxAcross(Vector128.MaxNative(x.GetLower(), x.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector256<float> x) => Vector256.Sum(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaskOutside(Vector256<float> x, int first, int lo, int hi)
    {
        Vector256<int> index = Lanes + Vector256.Create(first);
        Vector256<int> outside = Vector256.LessThan(index, Vector256.Create(lo)) | Vector256.GreaterThan(index, Vector256.Create(hi));
        return x + Vector256.ConditionalSelect(outside.AsSingle(), Vector256.Create(float.NegativeInfinity), Vector256<float>.Zero);
    }
}

/// <summary>SSE / NEON: 4 floats per register, 16 registers.</summary>
internal readonly unsafe struct Simd128 : ISimd<Vector128<float>>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SumAcross4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d, float* destination)
    {
        if (Sse3.IsSupported)
        {
            // [a0+a1, a2+a3, b0+b1, b2+b3] and the same for c, d; then [Σa, Σb, Σc, Σd]
            Sse3.HorizontalAdd(Sse3.HorizontalAdd(a, b), Sse3.HorizontalAdd(c, d)).Store(destination);
            return;
        }

        destination[0] = SumAcross(a);
        destination[1] = SumAcross(b);
        destination[2] = SumAcross(c);
        destination[3] = SumAcross(d);
    }

    /// <inheritdoc />
    public static void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor) =>
        SimdScalar.TransposeScaled(source, stride, destination, destinationStride, factor, 4);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadStrided(float* source, int stride)
    {
        if (Avx2.IsSupported)
        {
            return Avx2.GatherVector128(source, Vector128.Create(0, 1, 2, 3) * stride, 4);
        }

        return Vector128.Create(source[0], source[stride], source[2 * stride], source[3 * stride]);
    }

    private static readonly Vector128<int> Lanes = Vector128.Create(0, 1, 2, 3);

    public static int Width => Vector128<float>.Count;

    public static bool WideRegisterFile => false;

    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Splat(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaxNative(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MinNative(Vector128<float> a, Vector128<float> b) => Vector128.MinNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Abs(Vector128<float> x) => Vector128.Abs(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SelectLess(Vector128<float> x, Vector128<float> limit, Vector128<float> ifLess, Vector128<float> otherwise) =>
        Vector128.ConditionalSelect(Vector128.LessThan(x, limit), ifLess, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SelectEqual(Vector128<float> a, Vector128<float> b, Vector128<float> ifEqual, Vector128<float> otherwise) =>
        Vector128.ConditionalSelect(Vector128.Equals(a, b), ifEqual, otherwise);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Pow2FromRounded(Vector128<float> t) =>
        Vector128.ShiftLeft(t.AsInt32() + Vector128.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Round(Vector128<float> x) => Vector128.Round(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaxKeepNaN(Vector128<float> limit, Vector128<float> x) => Sse.IsSupported ? Sse.Max(limit, x) : Vector128.Max(limit, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ScaleByPow2(Vector128<float> x, Vector128<float> n) =>
        x * Vector128.ShiftLeft(Vector128.ConvertToInt32(n) + Vector128.Create(127 + 64), 23).AsSingle() * Vector128.Create(5.421010862427522E-20f /* 2⁻⁶⁴ */);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> x)
    {
        float m = x.GetElement(0);
        for (int i = 1; i < Vector128<float>.Count; i++)
        {
            float e = x.GetElement(i);
            m = e > m ? e : m;
        }

        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector128<float> x) => Vector128.Sum(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaskOutside(Vector128<float> x, int first, int lo, int hi)
    {
        Vector128<int> index = Lanes + Vector128.Create(first);
        Vector128<int> outside = Vector128.LessThan(index, Vector128.Create(lo)) | Vector128.GreaterThan(index, Vector128.Create(hi));
        return x + Vector128.ConditionalSelect(outside.AsSingle(), Vector128.Create(float.NegativeInfinity), Vector128<float>.Zero);
    }
}

/// <summary>No vector instructions: one float per "register". Used when hardware intrinsics are off.</summary>
internal readonly unsafe struct SimdScalar : ISimd<float>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SumAcross4(float a, float b, float c, float d, float* destination)
    {
        destination[0] = a;
        destination[1] = b;
        destination[2] = c;
        destination[3] = d;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LoadStrided(float* source, int stride) => *source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor) =>
        *destination = factor * *source;

    /// <summary>The element-by-element transpose of a width × width block (tiers without their shuffles).</summary>
    public static void TransposeScaled(float* source, int stride, float* destination, int destinationStride, float factor, int width)
    {
        for (int i = 0; i < width; i++)
        {
            for (int j = 0; j < width; j++) destination[((long)j * destinationStride) + i] = factor * source[((long)i * stride) + j];
        }
    }

    public static int Width => 1;

    public static bool WideRegisterFile => false;

    public static float Zero => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Splat(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(float* source) => *source;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float value, float* destination) => *destination = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Add(float a, float b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Subtract(float a, float b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Multiply(float a, float b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Divide(float a, float b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MultiplyAdd(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxNative(float a, float b) => a > b ? a : b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MinNative(float a, float b) => a < b ? a : b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Abs(float x) => MathF.Abs(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SelectLess(float x, float limit, float ifLess, float otherwise) => x < limit ? ifLess : otherwise;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SelectEqual(float a, float b, float ifEqual, float otherwise) => a == b ? ifEqual : otherwise;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Pow2FromRounded(float t) =>
        BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(t) + 127) << 23);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float x) => MathF.Round(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ScaleByPow2(float x, float n) =>
        float.IsNaN(n) ? float.NaN : x * BitConverter.Int32BitsToSingle(((int)n + 127 + 64) << 23) * 5.421010862427522E-20f /* 2⁻⁶⁴ */;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxKeepNaN(float limit, float x) => MathF.Max(limit, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(float x) => x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(float x) => x;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaskOutside(float x, int first, int lo, int hi) => first < lo || first > hi ? x + float.NegativeInfinity : x;
}
