using System.Runtime.CompilerServices;

namespace Heed.Kernels;

/// <summary>
/// The one matrix product the kernels need, on panels of 6 rows: C[6 × n] = diag(s)·C + A[6 × k]·B[k × n], or
/// C = A·B when no row scales are given. Q·Kᵀ uses it with A = Q rows and B = Kᵀ packed per key tile; P·V with
/// A = probabilities, B = the V tile, and s = the online-softmax rescaling of the running output.
/// </summary>
/// <remarks>
/// Register blocking as in the BLIS/GotoBLAS micro-kernels: 6 rows × 4 registers = 24 accumulators on AVX-512
/// (32 registers), 6 × 2 = 12 on 16-register tiers, each step loading 4 (or 2) registers of B and broadcasting
/// 6 elements of A. The code is written out by hand (generated once, then kept as source) so the JIT keeps every
/// accumulator in a register.
/// </remarks>
internal static unsafe class PanelGemm
{
    /// <summary>Rows per panel.</summary>
    public const int Rows = 6;

    /// <summary>Rows per group of the one-register panels when the rows are a multiple of it (see <see cref="Panel1By8{TOps, TV}"/>).</summary>
    private const int EightRows = 8;

    /// <summary>
    /// C[6 × n] = diag(rowScale)·C + A·B (or A·B when <paramref name="rowScale"/> is null), with A 6 × depth (row stride lda),
    /// B depth × n (row stride ldb) and C 6 × n (row stride ldc); n is a multiple of the tier's width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void Multiply<TOps, TV>(float* a, int lda, float* b, int ldb, float* c, int ldc, int depth, int n, float* rowScale)
        where TOps : ISimd<TV>
        where TV : struct
        => MultiplyClamped<TOps, TV>(a, lda, Rows, b, ldb, c, ldc, depth, n, rowScale);

    /// <summary>
    /// As <see cref="Multiply{TOps, TV}"/> for any number <paramref name="aRows"/> ≥ 1 of A rows, 6 at a time inside one call
    /// (the panels' fixed costs are paid once per call, not per 6 rows); in the last group of 6, rows past A's end repeat its
    /// last row, so C must have <paramref name="aRows"/> rounded up to a multiple of 6 writable rows, and
    /// <paramref name="rowScale"/> (when given) as many floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void MultiplyClamped<TOps, TV>(float* a, int lda, int aRows, float* b, int ldb, float* c, int ldc, int depth, int n, float* rowScale, float* columnMax = null)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        int column = 0;
        if (TOps.WideRegisterFile)
        {
            for (; column + (4 * w) <= n; column += 4 * w)
            {
                Panel4<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, rowScale, columnMax is null ? null : columnMax + column);
            }
        }

        for (; column + (2 * w) <= n; column += 2 * w)
        {
            Panel2<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, rowScale, columnMax is null ? null : columnMax + column);
        }

        for (; column < n; column += w)
        {
            Panel1<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, rowScale, columnMax is null ? null : columnMax + column);
        }
    }

    /// <summary>C[m × 4·W] at column 0 of the pointers, 6 rows at a time; see <see cref="Multiply{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Panel4<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* rowScales, float* columnMax)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int g = 0; g < totalRows; g += Rows)
        {
            // A last group of at most 4 rows runs the 4-row variant (decoding's 4 query rows per kv head, a tile's last keys).
            int aRows = Math.Min(Rows, totalRows - g);
            float* rowScale = rowScales is null ? null : rowScales + g;
            if (aRows <= 4)
            {
                Group4<TOps, TV, FourRows>(aFirst + ((long)g * lda), lda, aRows, b, ldb, cFirst + ((long)g * ldc), ldc, depth, rowScale, columnMax);
            }
            else
            {
                Group4<TOps, TV, SixRows>(aFirst + ((long)g * lda), lda, aRows, b, ldb, cFirst + ((long)g * ldc), ldc, depth, rowScale, columnMax);
            }
        }
    }

    /// <summary>
    /// One group of <see cref="Multiply{TOps, TV}"/>: C[r × 4·W] for r = 6 or 4 rows (<typeparamref name="TRows"/>), A rows past
    /// <paramref name="aRows"/> repeating the last; with <paramref name="columnMax"/>, the column maxima of the group's rows are
    /// merged into it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Group4<TOps, TV, TRows>(float* a, int lda, int aRows, float* b, int ldb, float* c, int ldc, int depth, float* rowScale, float* columnMax)
        where TOps : ISimd<TV>
        where TV : struct
        where TRows : struct, IPanelRows
    {
        int w = TOps.Width;
        bool six = TRows.Six;
        float* a0 = a, a1 = a + (Math.Min(1, aRows - 1) * lda), a2 = a + (Math.Min(2, aRows - 1) * lda), a3 = a + (Math.Min(3, aRows - 1) * lda), a4 = a + (Math.Min(4, aRows - 1) * lda), a5 = a + (Math.Min(5, aRows - 1) * lda);
        float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
        TV x00 = TOps.Zero, x01 = TOps.Zero, x02 = TOps.Zero, x03 = TOps.Zero;
        TV x10 = TOps.Zero, x11 = TOps.Zero, x12 = TOps.Zero, x13 = TOps.Zero;
        TV x20 = TOps.Zero, x21 = TOps.Zero, x22 = TOps.Zero, x23 = TOps.Zero;
        TV x30 = TOps.Zero, x31 = TOps.Zero, x32 = TOps.Zero, x33 = TOps.Zero;
        TV x40 = TOps.Zero, x41 = TOps.Zero, x42 = TOps.Zero, x43 = TOps.Zero;
        TV x50 = TOps.Zero, x51 = TOps.Zero, x52 = TOps.Zero, x53 = TOps.Zero;
        if (rowScale is not null)
        {
            TV s0 = TOps.Splat(rowScale[0]);
            x00 = TOps.Multiply(TOps.Load(c0), s0);
            x01 = TOps.Multiply(TOps.Load(c0 + w), s0);
            x02 = TOps.Multiply(TOps.Load(c0 + (2 * w)), s0);
            x03 = TOps.Multiply(TOps.Load(c0 + (3 * w)), s0);
            TV s1 = TOps.Splat(rowScale[1]);
            x10 = TOps.Multiply(TOps.Load(c1), s1);
            x11 = TOps.Multiply(TOps.Load(c1 + w), s1);
            x12 = TOps.Multiply(TOps.Load(c1 + (2 * w)), s1);
            x13 = TOps.Multiply(TOps.Load(c1 + (3 * w)), s1);
            TV s2 = TOps.Splat(rowScale[2]);
            x20 = TOps.Multiply(TOps.Load(c2), s2);
            x21 = TOps.Multiply(TOps.Load(c2 + w), s2);
            x22 = TOps.Multiply(TOps.Load(c2 + (2 * w)), s2);
            x23 = TOps.Multiply(TOps.Load(c2 + (3 * w)), s2);
            TV s3 = TOps.Splat(rowScale[3]);
            x30 = TOps.Multiply(TOps.Load(c3), s3);
            x31 = TOps.Multiply(TOps.Load(c3 + w), s3);
            x32 = TOps.Multiply(TOps.Load(c3 + (2 * w)), s3);
            x33 = TOps.Multiply(TOps.Load(c3 + (3 * w)), s3);
            if (six)
            {
                TV s4 = TOps.Splat(rowScale[4]);
                x40 = TOps.Multiply(TOps.Load(c4), s4);
                x41 = TOps.Multiply(TOps.Load(c4 + w), s4);
                x42 = TOps.Multiply(TOps.Load(c4 + (2 * w)), s4);
                x43 = TOps.Multiply(TOps.Load(c4 + (3 * w)), s4);
            }
            if (six)
            {
                TV s5 = TOps.Splat(rowScale[5]);
                x50 = TOps.Multiply(TOps.Load(c5), s5);
                x51 = TOps.Multiply(TOps.Load(c5 + w), s5);
                x52 = TOps.Multiply(TOps.Load(c5 + (2 * w)), s5);
                x53 = TOps.Multiply(TOps.Load(c5 + (3 * w)), s5);
            }
        }

        for (int k = 0; k < depth; k++)
        {
            float* bk = b + ((long)k * ldb);
            TV b0 = TOps.Load(bk);
            TV b1 = TOps.Load(bk + w);
            TV b2 = TOps.Load(bk + (2 * w));
            TV b3 = TOps.Load(bk + (3 * w));
            TV r0 = TOps.Splat(a0[k]);
            x00 = TOps.MultiplyAdd(r0, b0, x00);
            x01 = TOps.MultiplyAdd(r0, b1, x01);
            x02 = TOps.MultiplyAdd(r0, b2, x02);
            x03 = TOps.MultiplyAdd(r0, b3, x03);
            TV r1 = TOps.Splat(a1[k]);
            x10 = TOps.MultiplyAdd(r1, b0, x10);
            x11 = TOps.MultiplyAdd(r1, b1, x11);
            x12 = TOps.MultiplyAdd(r1, b2, x12);
            x13 = TOps.MultiplyAdd(r1, b3, x13);
            TV r2 = TOps.Splat(a2[k]);
            x20 = TOps.MultiplyAdd(r2, b0, x20);
            x21 = TOps.MultiplyAdd(r2, b1, x21);
            x22 = TOps.MultiplyAdd(r2, b2, x22);
            x23 = TOps.MultiplyAdd(r2, b3, x23);
            TV r3 = TOps.Splat(a3[k]);
            x30 = TOps.MultiplyAdd(r3, b0, x30);
            x31 = TOps.MultiplyAdd(r3, b1, x31);
            x32 = TOps.MultiplyAdd(r3, b2, x32);
            x33 = TOps.MultiplyAdd(r3, b3, x33);
            if (six)
            {
                TV r4 = TOps.Splat(a4[k]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
                x42 = TOps.MultiplyAdd(r4, b2, x42);
                x43 = TOps.MultiplyAdd(r4, b3, x43);
            }
            if (six)
            {
                TV r5 = TOps.Splat(a5[k]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
                x52 = TOps.MultiplyAdd(r5, b2, x52);
                x53 = TOps.MultiplyAdd(r5, b3, x53);
            }
        }

        if (columnMax is not null)
        {
            TV m0 = TOps.MaxNative(TOps.MaxNative(x00, x10), TOps.MaxNative(x20, x30));
            TV m1 = TOps.MaxNative(TOps.MaxNative(x01, x11), TOps.MaxNative(x21, x31));
            TV m2 = TOps.MaxNative(TOps.MaxNative(x02, x12), TOps.MaxNative(x22, x32));
            TV m3 = TOps.MaxNative(TOps.MaxNative(x03, x13), TOps.MaxNative(x23, x33));
            if (six)
            {
                m0 = TOps.MaxNative(m0, TOps.MaxNative(x40, x50));
                m1 = TOps.MaxNative(m1, TOps.MaxNative(x41, x51));
                m2 = TOps.MaxNative(m2, TOps.MaxNative(x42, x52));
                m3 = TOps.MaxNative(m3, TOps.MaxNative(x43, x53));
            }

            TOps.Store(TOps.MaxNative(TOps.Load(columnMax), m0), columnMax);
            TOps.Store(TOps.MaxNative(TOps.Load(columnMax + w), m1), columnMax + w);
            TOps.Store(TOps.MaxNative(TOps.Load(columnMax + (2 * w)), m2), columnMax + (2 * w));
            TOps.Store(TOps.MaxNative(TOps.Load(columnMax + (3 * w)), m3), columnMax + (3 * w));
        }

        TOps.Store(x00, c0);
        TOps.Store(x01, c0 + w);
        TOps.Store(x02, c0 + (2 * w));
        TOps.Store(x03, c0 + (3 * w));

        TOps.Store(x10, c1);
        TOps.Store(x11, c1 + w);
        TOps.Store(x12, c1 + (2 * w));
        TOps.Store(x13, c1 + (3 * w));

        TOps.Store(x20, c2);
        TOps.Store(x21, c2 + w);
        TOps.Store(x22, c2 + (2 * w));
        TOps.Store(x23, c2 + (3 * w));

        TOps.Store(x30, c3);
        TOps.Store(x31, c3 + w);
        TOps.Store(x32, c3 + (2 * w));
        TOps.Store(x33, c3 + (3 * w));

        if (six)
        {
            TOps.Store(x40, c4);
            TOps.Store(x41, c4 + w);
            TOps.Store(x42, c4 + (2 * w));
            TOps.Store(x43, c4 + (3 * w));
        }

        if (six)
        {
            TOps.Store(x50, c5);
            TOps.Store(x51, c5 + w);
            TOps.Store(x52, c5 + (2 * w));
            TOps.Store(x53, c5 + (3 * w));
        }
    }

    /// <summary>C[6 × 2·W] at column 0 of the pointers; see <see cref="Multiply{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Panel2<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* rowScales, float* columnMax)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        for (int g = 0; g < totalRows; g += Rows)
        {
            float* a = aFirst + ((long)g * lda);
            int aRows = Math.Min(Rows, totalRows - g);
            float* c = cFirst + ((long)g * ldc);
            float* rowScale = rowScales is null ? null : rowScales + g;
            float* a0 = a, a1 = a + (Math.Min(1, aRows - 1) * lda), a2 = a + (Math.Min(2, aRows - 1) * lda), a3 = a + (Math.Min(3, aRows - 1) * lda), a4 = a + (Math.Min(4, aRows - 1) * lda), a5 = a + (Math.Min(5, aRows - 1) * lda);
            float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
            TV x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51;
            if (rowScale is null)
            {
                x00 = TOps.Zero; x01 = TOps.Zero;
                x10 = TOps.Zero; x11 = TOps.Zero;
                x20 = TOps.Zero; x21 = TOps.Zero;
                x30 = TOps.Zero; x31 = TOps.Zero;
                x40 = TOps.Zero; x41 = TOps.Zero;
                x50 = TOps.Zero; x51 = TOps.Zero;
            }
            else
            {
                TV s0 = TOps.Splat(rowScale[0]);
                TV s1 = TOps.Splat(rowScale[1]);
                TV s2 = TOps.Splat(rowScale[2]);
                TV s3 = TOps.Splat(rowScale[3]);
                TV s4 = TOps.Splat(rowScale[4]);
                TV s5 = TOps.Splat(rowScale[5]);
                x00 = TOps.Multiply(TOps.Load(c0), s0);
                x01 = TOps.Multiply(TOps.Load(c0 + w), s0);
                x10 = TOps.Multiply(TOps.Load(c1), s1);
                x11 = TOps.Multiply(TOps.Load(c1 + w), s1);
                x20 = TOps.Multiply(TOps.Load(c2), s2);
                x21 = TOps.Multiply(TOps.Load(c2 + w), s2);
                x30 = TOps.Multiply(TOps.Load(c3), s3);
                x31 = TOps.Multiply(TOps.Load(c3 + w), s3);
                x40 = TOps.Multiply(TOps.Load(c4), s4);
                x41 = TOps.Multiply(TOps.Load(c4 + w), s4);
                x50 = TOps.Multiply(TOps.Load(c5), s5);
                x51 = TOps.Multiply(TOps.Load(c5 + w), s5);
            }

            for (int k = 0; k < depth; k++)
            {
                float* bk = b + ((long)k * ldb);
                TV b0 = TOps.Load(bk);
                TV b1 = TOps.Load(bk + w);
                TV r0 = TOps.Splat(a0[k]);
                x00 = TOps.MultiplyAdd(r0, b0, x00);
                x01 = TOps.MultiplyAdd(r0, b1, x01);
                TV r1 = TOps.Splat(a1[k]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                x11 = TOps.MultiplyAdd(r1, b1, x11);
                TV r2 = TOps.Splat(a2[k]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                x21 = TOps.MultiplyAdd(r2, b1, x21);
                TV r3 = TOps.Splat(a3[k]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                x31 = TOps.MultiplyAdd(r3, b1, x31);
                TV r4 = TOps.Splat(a4[k]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
                TV r5 = TOps.Splat(a5[k]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
            }

            if (columnMax is not null)
            {
                TOps.Store(TOps.MaxNative(TOps.Load(columnMax), TOps.MaxNative(TOps.MaxNative(TOps.MaxNative(x00, x10), TOps.MaxNative(x20, x30)), TOps.MaxNative(x40, x50))), columnMax);
                TOps.Store(TOps.MaxNative(TOps.Load(columnMax + w), TOps.MaxNative(TOps.MaxNative(TOps.MaxNative(x01, x11), TOps.MaxNative(x21, x31)), TOps.MaxNative(x41, x51))), columnMax + w);
            }

            TOps.Store(x00, c0);
            TOps.Store(x01, c0 + w);
            TOps.Store(x10, c1);
            TOps.Store(x11, c1 + w);
            TOps.Store(x20, c2);
            TOps.Store(x21, c2 + w);
            TOps.Store(x30, c3);
            TOps.Store(x31, c3 + w);
            TOps.Store(x40, c4);
            TOps.Store(x41, c4 + w);
            TOps.Store(x50, c5);
            TOps.Store(x51, c5 + w);
        }
    }

    /// <summary>C[6 × 1·W] at column 0 of the pointers; see <see cref="Multiply{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Panel1<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* rowScales, float* columnMax)
        where TOps : ISimd<TV>
        where TV : struct
    {
        if (totalRows % EightRows == 0 && rowScales is null)
        {
            Panel1By8<TOps, TV>(aFirst, lda, totalRows, b, ldb, cFirst, ldc, depth, columnMax);
            return;
        }

        int w = TOps.Width;
        for (int g = 0; g < totalRows; g += Rows)
        {
            float* a = aFirst + ((long)g * lda);
            int aRows = Math.Min(Rows, totalRows - g);
            float* c = cFirst + ((long)g * ldc);
            float* rowScale = rowScales is null ? null : rowScales + g;
            float* a0 = a, a1 = a + (Math.Min(1, aRows - 1) * lda), a2 = a + (Math.Min(2, aRows - 1) * lda), a3 = a + (Math.Min(3, aRows - 1) * lda), a4 = a + (Math.Min(4, aRows - 1) * lda), a5 = a + (Math.Min(5, aRows - 1) * lda);
            float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
            TV x00, x10, x20, x30, x40, x50;
            if (rowScale is null)
            {
                x00 = TOps.Zero;
                x10 = TOps.Zero;
                x20 = TOps.Zero;
                x30 = TOps.Zero;
                x40 = TOps.Zero;
                x50 = TOps.Zero;
            }
            else
            {
                TV s0 = TOps.Splat(rowScale[0]);
                TV s1 = TOps.Splat(rowScale[1]);
                TV s2 = TOps.Splat(rowScale[2]);
                TV s3 = TOps.Splat(rowScale[3]);
                TV s4 = TOps.Splat(rowScale[4]);
                TV s5 = TOps.Splat(rowScale[5]);
                x00 = TOps.Multiply(TOps.Load(c0), s0);
                x10 = TOps.Multiply(TOps.Load(c1), s1);
                x20 = TOps.Multiply(TOps.Load(c2), s2);
                x30 = TOps.Multiply(TOps.Load(c3), s3);
                x40 = TOps.Multiply(TOps.Load(c4), s4);
                x50 = TOps.Multiply(TOps.Load(c5), s5);
            }

            for (int k = 0; k < depth; k++)
            {
                float* bk = b + ((long)k * ldb);
                TV b0 = TOps.Load(bk);
                TV r0 = TOps.Splat(a0[k]);
                x00 = TOps.MultiplyAdd(r0, b0, x00);
                TV r1 = TOps.Splat(a1[k]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                TV r2 = TOps.Splat(a2[k]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                TV r3 = TOps.Splat(a3[k]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                TV r4 = TOps.Splat(a4[k]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                TV r5 = TOps.Splat(a5[k]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
            }

            if (columnMax is not null)
            {
                TOps.Store(TOps.MaxNative(TOps.Load(columnMax), TOps.MaxNative(TOps.MaxNative(TOps.MaxNative(x00, x10), TOps.MaxNative(x20, x30)), TOps.MaxNative(x40, x50))), columnMax);
            }

            TOps.Store(x00, c0);
            TOps.Store(x10, c1);
            TOps.Store(x20, c2);
            TOps.Store(x30, c3);
            TOps.Store(x40, c4);
            TOps.Store(x50, c5);
        }
    }

    /// <summary>
    /// <see cref="Panel1{TOps, TV}"/> for a multiple of 8 rows and no row scales, 8 at a time: one register of B against 6 rows
    /// keeps only 6 multiply-adds in flight, fewer than the FMA units' latency times their number (4 cycles × 2 here), so a
    /// 6-row group waits on its own sums; 8 rows fill them. The staircase of a causal block (16 keys a step, Dv = 64) is all
    /// such groups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Panel1By8<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* columnMax)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int g = 0; g < totalRows; g += EightRows)
        {
            float* a0 = aFirst + ((long)g * lda), a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
            float* c0 = cFirst + ((long)g * ldc);
            TV x0 = TOps.Zero, x1 = TOps.Zero, x2 = TOps.Zero, x3 = TOps.Zero, x4 = TOps.Zero, x5 = TOps.Zero, x6 = TOps.Zero, x7 = TOps.Zero;
            for (int k = 0; k < depth; k++)
            {
                TV bk = TOps.Load(b + ((long)k * ldb));
                x0 = TOps.MultiplyAdd(TOps.Splat(a0[k]), bk, x0);
                x1 = TOps.MultiplyAdd(TOps.Splat(a1[k]), bk, x1);
                x2 = TOps.MultiplyAdd(TOps.Splat(a2[k]), bk, x2);
                x3 = TOps.MultiplyAdd(TOps.Splat(a3[k]), bk, x3);
                x4 = TOps.MultiplyAdd(TOps.Splat(a4[k]), bk, x4);
                x5 = TOps.MultiplyAdd(TOps.Splat(a5[k]), bk, x5);
                x6 = TOps.MultiplyAdd(TOps.Splat(a6[k]), bk, x6);
                x7 = TOps.MultiplyAdd(TOps.Splat(a7[k]), bk, x7);
            }

            if (columnMax is not null)
            {
                TV top = TOps.MaxNative(TOps.MaxNative(TOps.MaxNative(x0, x1), TOps.MaxNative(x2, x3)), TOps.MaxNative(TOps.MaxNative(x4, x5), TOps.MaxNative(x6, x7)));
                TOps.Store(TOps.MaxNative(TOps.Load(columnMax), top), columnMax);
            }

            Store8<TOps, TV>(c0, ldc, x0, x1, x2, x3, x4, x5, x6, x7);
        }
    }

    /// <summary>
    /// C[m × n] = C·diag(columnScale) + Aᵀ-stored A · B: A(i, k) = a[k·lda + i] (A given as its transpose, each step's 6
    /// elements contiguous) for m = <paramref name="aRows"/> ≥ 1 rows, 6 at a time inside one call (in the last group of 6,
    /// rows past m repeat row m − 1, so C must have m rounded up to a multiple of 6 writable rows). B is depth × n (row stride
    /// ldb), C row stride ldc, n a multiple of the tier's width; <paramref name="columnScale"/> (n floats) or null for C += A·B.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void MultiplyTransposedA<TOps, TV>(float* a, int lda, int aRows, float* b, int ldb, float* c, int ldc, int depth, int n, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        int column = 0;
        if (TOps.WideRegisterFile)
        {
            for (; column + (4 * w) <= n; column += 4 * w)
            {
                PanelT4<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, columnScale is null ? null : columnScale + column);
            }
        }

        for (; column + (2 * w) <= n; column += 2 * w)
        {
            PanelT2<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, columnScale is null ? null : columnScale + column);
        }

        for (; column < n; column += w)
        {
            PanelT1<TOps, TV>(a, lda, aRows, b + column, ldb, c + column, ldc, depth, columnScale is null ? null : columnScale + column);
        }
    }

    /// <summary>C[m × 4·W] at column 0 of the pointers, 6 rows at a time; see <see cref="MultiplyTransposedA{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void PanelT4<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int g = 0; g < totalRows; g += Rows)
        {
            // A last group of at most 4 rows runs the 4-row variant: no work on copies of its last row (Dv = 64 is 10 × 6 + 4).
            int aRows = Math.Min(Rows, totalRows - g);
            if (aRows <= 4)
            {
                GroupT4<TOps, TV, FourRows>(aFirst + g, lda, aRows, b, ldb, cFirst + ((long)g * ldc), ldc, depth, columnScale);
            }
            else
            {
                GroupT4<TOps, TV, SixRows>(aFirst + g, lda, aRows, b, ldb, cFirst + ((long)g * ldc), ldc, depth, columnScale);
            }
        }
    }

    /// <summary>
    /// One group of <see cref="MultiplyTransposedA{TOps, TV}"/>: C[r × 4·W] for r = 6 or 4 rows (<typeparamref name="TRows"/>; the JIT
    /// drops rows 4 and 5 of the 4-row variant), A rows past <paramref name="aRows"/> repeating the last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void GroupT4<TOps, TV, TRows>(float* a, int lda, int aRows, float* b, int ldb, float* c, int ldc, int depth, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
        where TRows : struct, IPanelRows
    {
        int w = TOps.Width;
        bool six = TRows.Six;
        int o1 = Math.Min(1, aRows - 1), o2 = Math.Min(2, aRows - 1), o3 = Math.Min(3, aRows - 1), o4 = Math.Min(4, aRows - 1), o5 = Math.Min(5, aRows - 1);
        float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
        TV s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero;
        if (columnScale is not null)
        {
            s0 = TOps.Load(columnScale);
            s1 = TOps.Load(columnScale + w);
            s2 = TOps.Load(columnScale + (2 * w));
            s3 = TOps.Load(columnScale + (3 * w));
        }

        TV x00 = TOps.Zero, x01 = TOps.Zero, x02 = TOps.Zero, x03 = TOps.Zero;
        TV x10 = TOps.Zero, x11 = TOps.Zero, x12 = TOps.Zero, x13 = TOps.Zero;
        TV x20 = TOps.Zero, x21 = TOps.Zero, x22 = TOps.Zero, x23 = TOps.Zero;
        TV x30 = TOps.Zero, x31 = TOps.Zero, x32 = TOps.Zero, x33 = TOps.Zero;
        TV x40 = TOps.Zero, x41 = TOps.Zero, x42 = TOps.Zero, x43 = TOps.Zero;
        TV x50 = TOps.Zero, x51 = TOps.Zero, x52 = TOps.Zero, x53 = TOps.Zero;
        if (columnScale is null)
        {
            x00 = TOps.Load(c0);
            x01 = TOps.Load(c0 + w);
            x02 = TOps.Load(c0 + (2 * w));
            x03 = TOps.Load(c0 + (3 * w));
        }
        else
        {
            x00 = Rescale<TOps, TV>(TOps.Load(c0), s0);
            x01 = Rescale<TOps, TV>(TOps.Load(c0 + w), s1);
            x02 = Rescale<TOps, TV>(TOps.Load(c0 + (2 * w)), s2);
            x03 = Rescale<TOps, TV>(TOps.Load(c0 + (3 * w)), s3);
        }

        if (columnScale is null)
        {
            x10 = TOps.Load(c1);
            x11 = TOps.Load(c1 + w);
            x12 = TOps.Load(c1 + (2 * w));
            x13 = TOps.Load(c1 + (3 * w));
        }
        else
        {
            x10 = Rescale<TOps, TV>(TOps.Load(c1), s0);
            x11 = Rescale<TOps, TV>(TOps.Load(c1 + w), s1);
            x12 = Rescale<TOps, TV>(TOps.Load(c1 + (2 * w)), s2);
            x13 = Rescale<TOps, TV>(TOps.Load(c1 + (3 * w)), s3);
        }

        if (columnScale is null)
        {
            x20 = TOps.Load(c2);
            x21 = TOps.Load(c2 + w);
            x22 = TOps.Load(c2 + (2 * w));
            x23 = TOps.Load(c2 + (3 * w));
        }
        else
        {
            x20 = Rescale<TOps, TV>(TOps.Load(c2), s0);
            x21 = Rescale<TOps, TV>(TOps.Load(c2 + w), s1);
            x22 = Rescale<TOps, TV>(TOps.Load(c2 + (2 * w)), s2);
            x23 = Rescale<TOps, TV>(TOps.Load(c2 + (3 * w)), s3);
        }

        if (columnScale is null)
        {
            x30 = TOps.Load(c3);
            x31 = TOps.Load(c3 + w);
            x32 = TOps.Load(c3 + (2 * w));
            x33 = TOps.Load(c3 + (3 * w));
        }
        else
        {
            x30 = Rescale<TOps, TV>(TOps.Load(c3), s0);
            x31 = Rescale<TOps, TV>(TOps.Load(c3 + w), s1);
            x32 = Rescale<TOps, TV>(TOps.Load(c3 + (2 * w)), s2);
            x33 = Rescale<TOps, TV>(TOps.Load(c3 + (3 * w)), s3);
        }

        if (six)
        {
            if (columnScale is null)
            {
                x40 = TOps.Load(c4);
                x41 = TOps.Load(c4 + w);
                x42 = TOps.Load(c4 + (2 * w));
                x43 = TOps.Load(c4 + (3 * w));
            }
            else
            {
                x40 = Rescale<TOps, TV>(TOps.Load(c4), s0);
                x41 = Rescale<TOps, TV>(TOps.Load(c4 + w), s1);
                x42 = Rescale<TOps, TV>(TOps.Load(c4 + (2 * w)), s2);
                x43 = Rescale<TOps, TV>(TOps.Load(c4 + (3 * w)), s3);
            }
        }

        if (six)
        {
            if (columnScale is null)
            {
                x50 = TOps.Load(c5);
                x51 = TOps.Load(c5 + w);
                x52 = TOps.Load(c5 + (2 * w));
                x53 = TOps.Load(c5 + (3 * w));
            }
            else
            {
                x50 = Rescale<TOps, TV>(TOps.Load(c5), s0);
                x51 = Rescale<TOps, TV>(TOps.Load(c5 + w), s1);
                x52 = Rescale<TOps, TV>(TOps.Load(c5 + (2 * w)), s2);
                x53 = Rescale<TOps, TV>(TOps.Load(c5 + (3 * w)), s3);
            }
        }

        for (int k = 0; k < depth; k++)
        {
            float* ak = a + ((long)k * lda);
            float* bk = b + ((long)k * ldb);
            TV b0 = TOps.Load(bk);
            TV b1 = TOps.Load(bk + w);
            TV b2 = TOps.Load(bk + (2 * w));
            TV b3 = TOps.Load(bk + (3 * w));
            TV r0 = TOps.Splat(ak[0]);
            x00 = TOps.MultiplyAdd(r0, b0, x00);
            x01 = TOps.MultiplyAdd(r0, b1, x01);
            x02 = TOps.MultiplyAdd(r0, b2, x02);
            x03 = TOps.MultiplyAdd(r0, b3, x03);
            TV r1 = TOps.Splat(ak[o1]);
            x10 = TOps.MultiplyAdd(r1, b0, x10);
            x11 = TOps.MultiplyAdd(r1, b1, x11);
            x12 = TOps.MultiplyAdd(r1, b2, x12);
            x13 = TOps.MultiplyAdd(r1, b3, x13);
            TV r2 = TOps.Splat(ak[o2]);
            x20 = TOps.MultiplyAdd(r2, b0, x20);
            x21 = TOps.MultiplyAdd(r2, b1, x21);
            x22 = TOps.MultiplyAdd(r2, b2, x22);
            x23 = TOps.MultiplyAdd(r2, b3, x23);
            TV r3 = TOps.Splat(ak[o3]);
            x30 = TOps.MultiplyAdd(r3, b0, x30);
            x31 = TOps.MultiplyAdd(r3, b1, x31);
            x32 = TOps.MultiplyAdd(r3, b2, x32);
            x33 = TOps.MultiplyAdd(r3, b3, x33);
            if (six)
            {
                TV r4 = TOps.Splat(ak[o4]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
                x42 = TOps.MultiplyAdd(r4, b2, x42);
                x43 = TOps.MultiplyAdd(r4, b3, x43);
            }
            if (six)
            {
                TV r5 = TOps.Splat(ak[o5]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
                x52 = TOps.MultiplyAdd(r5, b2, x52);
                x53 = TOps.MultiplyAdd(r5, b3, x53);
            }
        }

        TOps.Store(x00, c0);
        TOps.Store(x01, c0 + w);
        TOps.Store(x02, c0 + (2 * w));
        TOps.Store(x03, c0 + (3 * w));

        TOps.Store(x10, c1);
        TOps.Store(x11, c1 + w);
        TOps.Store(x12, c1 + (2 * w));
        TOps.Store(x13, c1 + (3 * w));

        TOps.Store(x20, c2);
        TOps.Store(x21, c2 + w);
        TOps.Store(x22, c2 + (2 * w));
        TOps.Store(x23, c2 + (3 * w));

        TOps.Store(x30, c3);
        TOps.Store(x31, c3 + w);
        TOps.Store(x32, c3 + (2 * w));
        TOps.Store(x33, c3 + (3 * w));

        if (six)
        {
            TOps.Store(x40, c4);
            TOps.Store(x41, c4 + w);
            TOps.Store(x42, c4 + (2 * w));
            TOps.Store(x43, c4 + (3 * w));
        }

        if (six)
        {
            TOps.Store(x50, c5);
            TOps.Store(x51, c5 + w);
            TOps.Store(x52, c5 + (2 * w));
            TOps.Store(x53, c5 + (3 * w));
        }
    }

    /// <summary>C[6 × 2·W] at column 0 of the pointers; see <see cref="MultiplyTransposedA{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void PanelT2<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        for (int g = 0; g < totalRows; g += Rows)
        {
            float* a = aFirst + g;
            int aRows = Math.Min(Rows, totalRows - g);
            float* c = cFirst + ((long)g * ldc);
            int o1 = Math.Min(1, aRows - 1), o2 = Math.Min(2, aRows - 1), o3 = Math.Min(3, aRows - 1), o4 = Math.Min(4, aRows - 1), o5 = Math.Min(5, aRows - 1);
            float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
            TV x00, x01, x10, x11, x20, x21, x30, x31, x40, x41, x50, x51;
            if (columnScale is null)
            {
                x00 = TOps.Load(c0); x01 = TOps.Load(c0 + w);
                x10 = TOps.Load(c1); x11 = TOps.Load(c1 + w);
                x20 = TOps.Load(c2); x21 = TOps.Load(c2 + w);
                x30 = TOps.Load(c3); x31 = TOps.Load(c3 + w);
                x40 = TOps.Load(c4); x41 = TOps.Load(c4 + w);
                x50 = TOps.Load(c5); x51 = TOps.Load(c5 + w);
            }
            else
            {
                TV s0 = TOps.Load(columnScale);
                TV s1 = TOps.Load(columnScale + w);
                x00 = Rescale<TOps, TV>(TOps.Load(c0), s0);
                x01 = Rescale<TOps, TV>(TOps.Load(c0 + w), s1);
                x10 = Rescale<TOps, TV>(TOps.Load(c1), s0);
                x11 = Rescale<TOps, TV>(TOps.Load(c1 + w), s1);
                x20 = Rescale<TOps, TV>(TOps.Load(c2), s0);
                x21 = Rescale<TOps, TV>(TOps.Load(c2 + w), s1);
                x30 = Rescale<TOps, TV>(TOps.Load(c3), s0);
                x31 = Rescale<TOps, TV>(TOps.Load(c3 + w), s1);
                x40 = Rescale<TOps, TV>(TOps.Load(c4), s0);
                x41 = Rescale<TOps, TV>(TOps.Load(c4 + w), s1);
                x50 = Rescale<TOps, TV>(TOps.Load(c5), s0);
                x51 = Rescale<TOps, TV>(TOps.Load(c5 + w), s1);
            }

            for (int k = 0; k < depth; k++)
            {
                float* ak = a + ((long)k * lda);
                float* bk = b + ((long)k * ldb);
                TV b0 = TOps.Load(bk);
                TV b1 = TOps.Load(bk + w);
                TV r0 = TOps.Splat(ak[0]);
                x00 = TOps.MultiplyAdd(r0, b0, x00);
                x01 = TOps.MultiplyAdd(r0, b1, x01);
                TV r1 = TOps.Splat(ak[o1]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                x11 = TOps.MultiplyAdd(r1, b1, x11);
                TV r2 = TOps.Splat(ak[o2]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                x21 = TOps.MultiplyAdd(r2, b1, x21);
                TV r3 = TOps.Splat(ak[o3]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                x31 = TOps.MultiplyAdd(r3, b1, x31);
                TV r4 = TOps.Splat(ak[o4]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
                TV r5 = TOps.Splat(ak[o5]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
            }

            TOps.Store(x00, c0);
            TOps.Store(x01, c0 + w);
            TOps.Store(x10, c1);
            TOps.Store(x11, c1 + w);
            TOps.Store(x20, c2);
            TOps.Store(x21, c2 + w);
            TOps.Store(x30, c3);
            TOps.Store(x31, c3 + w);
            TOps.Store(x40, c4);
            TOps.Store(x41, c4 + w);
            TOps.Store(x50, c5);
            TOps.Store(x51, c5 + w);
        }
    }

    /// <summary>C[6 × 1·W] at column 0 of the pointers; see <see cref="MultiplyTransposedA{TOps, TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void PanelT1<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        if (totalRows % EightRows == 0)
        {
            PanelT1By8<TOps, TV>(aFirst, lda, totalRows, b, ldb, cFirst, ldc, depth, columnScale);
            return;
        }

        int w = TOps.Width;
        for (int g = 0; g < totalRows; g += Rows)
        {
            float* a = aFirst + g;
            int aRows = Math.Min(Rows, totalRows - g);
            float* c = cFirst + ((long)g * ldc);
            int o1 = Math.Min(1, aRows - 1), o2 = Math.Min(2, aRows - 1), o3 = Math.Min(3, aRows - 1), o4 = Math.Min(4, aRows - 1), o5 = Math.Min(5, aRows - 1);
            float* c0 = c, c1 = c + ldc, c2 = c + (2 * ldc), c3 = c + (3 * ldc), c4 = c + (4 * ldc), c5 = c + (5 * ldc);
            TV x00, x10, x20, x30, x40, x50;
            if (columnScale is null)
            {
                x00 = TOps.Load(c0);
                x10 = TOps.Load(c1);
                x20 = TOps.Load(c2);
                x30 = TOps.Load(c3);
                x40 = TOps.Load(c4);
                x50 = TOps.Load(c5);
            }
            else
            {
                TV s0 = TOps.Load(columnScale);
                x00 = Rescale<TOps, TV>(TOps.Load(c0), s0);
                x10 = Rescale<TOps, TV>(TOps.Load(c1), s0);
                x20 = Rescale<TOps, TV>(TOps.Load(c2), s0);
                x30 = Rescale<TOps, TV>(TOps.Load(c3), s0);
                x40 = Rescale<TOps, TV>(TOps.Load(c4), s0);
                x50 = Rescale<TOps, TV>(TOps.Load(c5), s0);
            }

            for (int k = 0; k < depth; k++)
            {
                float* ak = a + ((long)k * lda);
                float* bk = b + ((long)k * ldb);
                TV b0 = TOps.Load(bk);
                TV r0 = TOps.Splat(ak[0]);
                x00 = TOps.MultiplyAdd(r0, b0, x00);
                TV r1 = TOps.Splat(ak[o1]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                TV r2 = TOps.Splat(ak[o2]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                TV r3 = TOps.Splat(ak[o3]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                TV r4 = TOps.Splat(ak[o4]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                TV r5 = TOps.Splat(ak[o5]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
            }

            TOps.Store(x00, c0);
            TOps.Store(x10, c1);
            TOps.Store(x20, c2);
            TOps.Store(x30, c3);
            TOps.Store(x40, c4);
            TOps.Store(x50, c5);
        }
    }

    /// <summary>
    /// <see cref="PanelT1{TOps, TV}"/> for a multiple of 8 rows (value columns), 8 at a time, for the reason given at
    /// <see cref="Panel1By8{TOps, TV}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void PanelT1By8<TOps, TV>(float* aFirst, int lda, int totalRows, float* b, int ldb, float* cFirst, int ldc, int depth, float* columnScale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int g = 0; g < totalRows; g += EightRows)
        {
            float* a = aFirst + g;
            float* c0 = cFirst + ((long)g * ldc);
            TV x0 = TOps.Load(c0), x1 = TOps.Load(c0 + ldc), x2 = TOps.Load(c0 + (2L * ldc)), x3 = TOps.Load(c0 + (3L * ldc));
            TV x4 = TOps.Load(c0 + (4L * ldc)), x5 = TOps.Load(c0 + (5L * ldc)), x6 = TOps.Load(c0 + (6L * ldc)), x7 = TOps.Load(c0 + (7L * ldc));
            if (columnScale is not null)
            {
                TV s0 = TOps.Load(columnScale);
                x0 = Rescale<TOps, TV>(x0, s0);
                x1 = Rescale<TOps, TV>(x1, s0);
                x2 = Rescale<TOps, TV>(x2, s0);
                x3 = Rescale<TOps, TV>(x3, s0);
                x4 = Rescale<TOps, TV>(x4, s0);
                x5 = Rescale<TOps, TV>(x5, s0);
                x6 = Rescale<TOps, TV>(x6, s0);
                x7 = Rescale<TOps, TV>(x7, s0);
            }

            for (int k = 0; k < depth; k++)
            {
                float* ak = a + ((long)k * lda);
                TV bk = TOps.Load(b + ((long)k * ldb));
                x0 = TOps.MultiplyAdd(TOps.Splat(ak[0]), bk, x0);
                x1 = TOps.MultiplyAdd(TOps.Splat(ak[1]), bk, x1);
                x2 = TOps.MultiplyAdd(TOps.Splat(ak[2]), bk, x2);
                x3 = TOps.MultiplyAdd(TOps.Splat(ak[3]), bk, x3);
                x4 = TOps.MultiplyAdd(TOps.Splat(ak[4]), bk, x4);
                x5 = TOps.MultiplyAdd(TOps.Splat(ak[5]), bk, x5);
                x6 = TOps.MultiplyAdd(TOps.Splat(ak[6]), bk, x6);
                x7 = TOps.MultiplyAdd(TOps.Splat(ak[7]), bk, x7);
            }

            Store8<TOps, TV>(c0, ldc, x0, x1, x2, x3, x4, x5, x6, x7);
        }
    }

    /// <summary>Eight accumulators into rows c, c + ldc, …, c + 7·ldc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store8<TOps, TV>(float* c, int ldc, TV x0, TV x1, TV x2, TV x3, TV x4, TV x5, TV x6, TV x7)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TOps.Store(x0, c);
        TOps.Store(x1, c + ldc);
        TOps.Store(x2, c + (2L * ldc));
        TOps.Store(x3, c + (3L * ldc));
        TOps.Store(x4, c + (4L * ldc));
        TOps.Store(x5, c + (5L * ldc));
        TOps.Store(x6, c + (6L * ldc));
        TOps.Store(x7, c + (7L * ldc));
    }

    /// <summary>
    /// c·s, or 0 where s is 0: a running output whose weight is exactly 0 is dropped rather than multiplied (its old value may be
    /// ±∞ or NaN, or not yet written at all on a block's first tile, and 0·∞ would be NaN).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Rescale<TOps, TV>(TV c, TV s)
        where TOps : ISimd<TV>
        where TV : struct => TOps.SelectEqual(s, TOps.Zero, TOps.Zero, TOps.Multiply(c, s));
}

/// <summary>The rows of one panel group, as a type so the JIT compiles a separate copy per count (see <see cref="PanelGemm"/>).</summary>
internal interface IPanelRows
{
    /// <summary>True for 6 rows, false for 4.</summary>
    static abstract bool Six { get; }
}

/// <summary>Groups of 6 rows.</summary>
internal readonly struct SixRows : IPanelRows
{
    public static bool Six => true;
}

/// <summary>Groups of 4 rows.</summary>
internal readonly struct FourRows : IPanelRows
{
    public static bool Six => false;
}
