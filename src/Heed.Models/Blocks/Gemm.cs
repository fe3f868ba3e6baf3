using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Heed.Kernels;

namespace Heed.Models.Blocks;

/// <summary>
/// A weight matrix W [in, out] (y = x·W) stored for <see cref="Gemm"/>: strips of 64 columns, each strip's rows back to back
/// ([⌈out/64⌉, in, 64], the last strip padded with zeros), so that a product streams each strip contiguously instead of
/// striding over rows of the whole matrix (strides of 4–6 KiB alias in the L1 cache).
/// </summary>
public sealed class PackedMatrix
{
    /// <summary>Columns per strip.</summary>
    internal const int Strip = 64;

    /// <summary>Packs <paramref name="weight"/>, row-major [in, out].</summary>
    public PackedMatrix(ReadOnlySpan<float> weight, int inFeatures, int outFeatures)
    {
        if (inFeatures <= 0 || outFeatures <= 0 || weight.Length != (long)inFeatures * outFeatures)
        {
            throw new ArgumentException($"PackedMatrix: {weight.Length} values for {inFeatures}×{outFeatures}");
        }

        In = inFeatures;
        Out = outFeatures;
        Strips = (outFeatures + Strip - 1) / Strip;
        Data = new float[Strips * inFeatures * Strip];
        for (int i = 0; i < inFeatures; i++)
        {
            for (int j = 0; j < outFeatures; j++) Data[(((j / Strip) * inFeatures) + i) * Strip + (j % Strip)] = weight[(i * outFeatures) + j];
        }
    }

    /// <summary>in, the rows of W.</summary>
    public int In { get; }

    /// <summary>out, the columns of W.</summary>
    public int Out { get; }

    /// <summary>W[row, column].</summary>
    public float this[int row, int column] => Data[(((column / Strip) * In) + row) * Strip + (column % Strip)];

    internal int Strips { get; }

    internal float[] Data { get; }

    /// <summary>W as a row-major [in, out] array.</summary>
    public float[] ToArray()
    {
        var w = new float[In * Out];
        for (int i = 0; i < In; i++)
        {
            for (int j = 0; j < Out; j++) w[(i * Out) + j] = this[i, j];
        }

        return w;
    }
}

/// <summary>What a <see cref="Gemm"/> product writes: Y = X·W + bias, then one of these.</summary>
internal enum DenseOutput
{
    /// <summary>Y = X·W + bias.</summary>
    Plain,

    /// <summary>Y = GELU(X·W + bias), GELU with erf by Abramowitz–Stegun 7.1.26, as <see cref="Activation.GeluErfFast"/>.</summary>
    Gelu,

    /// <summary>Y = X·W + bias + R: a residual connection (R may be Y itself).</summary>
    Residual,
}

/// <summary>
/// Dense products for many rows at once: Y = X·W + bias, optionally through GELU or plus a residual, over a weight packed in
/// 64-column strips (<see cref="PackedMatrix"/>). Register-blocked as BLIS's micro-kernels and Heed.Core's
/// <see cref="PanelGemm"/>: up to 6 rows of X against 4 registers of a strip (AVX-512: 64 columns, 24 accumulators; 2 registers
/// on the 16-register tiers), the accumulators written once, straight into Y, with the bias and the epilogue applied in
/// registers. A last group of fewer than 6 rows runs a kernel compiled for exactly that many, so no row is computed twice.
/// Threads (a <see cref="ThreadTeam"/>) take whole strips.
/// </summary>
internal static unsafe class Gemm
{
    // Below this many multiply-adds a call stays on the calling thread. One sentence's products (3–11 M multiply-adds for
    // MiniLM at T ≈ 19) split across the team: on a quiet 2-core machine one sentence at 2 threads went from 330 to 457
    // sentences/s. (On a machine loaded by other jobs the split lost 3×, the worker waiting for a core: docs/kernels.md,
    // encoder products.)
    private const long ParallelThreshold = 1L << 20;

    /// <summary>
    /// From this many rows of X on, the products over weights stored row by row (<see cref="Linear"/>, <see cref="QuantizedLinear"/>)
    /// pack 64 rows of W at a time and run <see cref="MultiplyStrip"/>; below it they keep their 4×4 tiles. On one thread over
    /// the 110M shape's three matrix shapes, the strips break even with the tiles at T = 16, are 1.1–1.2× as fast at T = 20–24
    /// and 1.5–1.65× at T = 128 (docs/kernels.md, GGUF entry 12).
    /// </summary>
    internal const int PrefillRows = 16;

    [ThreadStatic]
    private static StripJob? _job;

    [ThreadStatic]
    private static float[]? _strip;

    /// <summary>
    /// Y = X·W + bias, then <paramref name="output"/>: X [T, in], W [in, out], bias [out] (empty = none), residual [T, out]
    /// (read for <see cref="DenseOutput.Residual"/> only; may be Y) → Y [T, out]. Y must not overlap X.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(ReadOnlySpan<float> x, PackedMatrix weight, ReadOnlySpan<float> bias, Span<float> y, int rows, DenseOutput output = DenseOutput.Plain, ReadOnlySpan<float> residual = default, int threads = 1)
    {
        int k = weight.In, n = weight.Out;
        if (x.Length < (long)rows * k || y.Length < (long)rows * n || (!bias.IsEmpty && bias.Length < n)
            || (output == DenseOutput.Residual && residual.Length < (long)rows * n))
        {
            throw new ArgumentException($"Gemm: X holds {x.Length} of {rows}×{k}, Y {y.Length} of {rows}×{n}, bias {bias.Length}, residual {residual.Length}");
        }

        if (rows == 0) return;
        int strips = weight.Strips;
        fixed (float* px = x, pw = weight.Data, pb = bias, py = y, pr = residual)
        {
            var call = new Call(px, pw, bias.IsEmpty ? null : pb, py, output == DenseOutput.Residual ? pr : null, rows, k, n, n, output);
            if (threads <= 1 || strips < 2 || (long)rows * k * n < ParallelThreshold)
            {
                call.Strips(0, strips);
                return;
            }

            StripJob job = _job ??= new StripJob();
            job.Work = call;
            job.Count = strips;
            int parts = Math.Min(threads, strips);
            ThreadTeam.Shared(parts).Run(job, parts);
        }
    }

    /// <summary>
    /// Y[T, columns] = X·S (+ bias) (+ Y when <paramref name="accumulate"/>) for one strip S [depth, 64] (<see cref="PackRows16"/>;
    /// its columns from <paramref name="columns"/> on are not read back), with Y's rows <paramref name="ldy"/> floats apart. The
    /// models that store W row by row ([out, in]: GGUF, llama2.c) run their prefill products through the encoder's tiles this way,
    /// 64 rows of W at a time (docs/kernels.md, GGUF entry 12).
    /// </summary>
    internal static void MultiplyStrip(float* x, int rows, int depth, float* strip, float* bias, float* y, int ldy, int columns, bool accumulate)
    {
        if (rows <= 0 || depth <= 0 || columns <= 0 || columns > PackedMatrix.Strip || ldy < columns)
        {
            throw new ArgumentException($"Gemm strip: {rows} rows, depth {depth}, {columns} columns at stride {ldy}");
        }

        new Call(x, strip, bias, y, accumulate ? y : null, rows, depth, columns, ldy, accumulate ? DenseOutput.Residual : DenseOutput.Plain).Strips(0, 1);
    }

    /// <summary>
    /// This thread's pinned scratch for one strip [depth, 64] (<see cref="PackRows16"/>, <see cref="MultiplyStrip"/>), kept
    /// between products and grown only when a product needs more; shared by the float32 and the block-type products.
    /// </summary>
    internal static float[] StripBuffer(int depth) =>
        _strip is { } kept && kept.Length >= (long)depth * PackedMatrix.Strip ? kept : (_strip = GC.AllocateArray<float>(depth * PackedMatrix.Strip, pinned: true));

    /// <summary>
    /// Columns c..c+15 of a strip [depth, 64] from 16 rows of a row-major W [out, in]: strip[k·64 + c + r] = rows[r·stride + k]
    /// for r &lt; <paramref name="count"/> and 0 for the rest. With AVX-512, all 16 rows and depth a multiple of 16, each 16×16
    /// block is transposed in registers (64 shuffles per 256 values); otherwise one value at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackRows16(float* rows, long stride, int count, int depth, float* strip, int c)
    {
        if (count == 16 && depth % 16 == 0 && Avx512F.IsSupported)
        {
            for (int k = 0; k < depth; k += 16) Transpose16(rows + k, stride, strip + ((long)k * PackedMatrix.Strip) + c);
            return;
        }

        for (int k = 0; k < depth; k++)
        {
            float* target = strip + ((long)k * PackedMatrix.Strip) + c;
            for (int r = 0; r < 16; r++) target[r] = r < count ? rows[(r * stride) + k] : 0f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(float* source, long stride, float* target)
    {
        Vector512<float> r0 = Vector512.Load(source), r1 = Vector512.Load(source + stride), r2 = Vector512.Load(source + (2 * stride)), r3 = Vector512.Load(source + (3 * stride));
        Vector512<float> r4 = Vector512.Load(source + (4 * stride)), r5 = Vector512.Load(source + (5 * stride)), r6 = Vector512.Load(source + (6 * stride)), r7 = Vector512.Load(source + (7 * stride));
        Vector512<float> r8 = Vector512.Load(source + (8 * stride)), r9 = Vector512.Load(source + (9 * stride)), r10 = Vector512.Load(source + (10 * stride)), r11 = Vector512.Load(source + (11 * stride));
        Vector512<float> r12 = Vector512.Load(source + (12 * stride)), r13 = Vector512.Load(source + (13 * stride)), r14 = Vector512.Load(source + (14 * stride)), r15 = Vector512.Load(source + (15 * stride));

        // Pairs of rows interleaved, then pairs of pairs (as 64-bit lanes), then 128-bit lanes twice: r_j ends up column j.
        Vector512<float> t0 = Avx512F.UnpackLow(r0, r1), t1 = Avx512F.UnpackHigh(r0, r1);
        Vector512<float> t2 = Avx512F.UnpackLow(r2, r3), t3 = Avx512F.UnpackHigh(r2, r3);
        Vector512<float> t4 = Avx512F.UnpackLow(r4, r5), t5 = Avx512F.UnpackHigh(r4, r5);
        Vector512<float> t6 = Avx512F.UnpackLow(r6, r7), t7 = Avx512F.UnpackHigh(r6, r7);
        Vector512<float> t8 = Avx512F.UnpackLow(r8, r9), t9 = Avx512F.UnpackHigh(r8, r9);
        Vector512<float> t10 = Avx512F.UnpackLow(r10, r11), t11 = Avx512F.UnpackHigh(r10, r11);
        Vector512<float> t12 = Avx512F.UnpackLow(r12, r13), t13 = Avx512F.UnpackHigh(r12, r13);
        Vector512<float> t14 = Avx512F.UnpackLow(r14, r15), t15 = Avx512F.UnpackHigh(r14, r15);
        r0 = Avx512F.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle();
        r1 = Avx512F.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
        r2 = Avx512F.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle();
        r3 = Avx512F.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
        r4 = Avx512F.UnpackLow(t4.AsDouble(), t6.AsDouble()).AsSingle();
        r5 = Avx512F.UnpackHigh(t4.AsDouble(), t6.AsDouble()).AsSingle();
        r6 = Avx512F.UnpackLow(t5.AsDouble(), t7.AsDouble()).AsSingle();
        r7 = Avx512F.UnpackHigh(t5.AsDouble(), t7.AsDouble()).AsSingle();
        r8 = Avx512F.UnpackLow(t8.AsDouble(), t10.AsDouble()).AsSingle();
        r9 = Avx512F.UnpackHigh(t8.AsDouble(), t10.AsDouble()).AsSingle();
        r10 = Avx512F.UnpackLow(t9.AsDouble(), t11.AsDouble()).AsSingle();
        r11 = Avx512F.UnpackHigh(t9.AsDouble(), t11.AsDouble()).AsSingle();
        r12 = Avx512F.UnpackLow(t12.AsDouble(), t14.AsDouble()).AsSingle();
        r13 = Avx512F.UnpackHigh(t12.AsDouble(), t14.AsDouble()).AsSingle();
        r14 = Avx512F.UnpackLow(t13.AsDouble(), t15.AsDouble()).AsSingle();
        r15 = Avx512F.UnpackHigh(t13.AsDouble(), t15.AsDouble()).AsSingle();
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88);
        t1 = Avx512F.Shuffle4x128(r1, r5, 0x88);
        t2 = Avx512F.Shuffle4x128(r2, r6, 0x88);
        t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD);
        t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD);
        t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD);
        t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88);
        t9 = Avx512F.Shuffle4x128(r9, r13, 0x88);
        t10 = Avx512F.Shuffle4x128(r10, r14, 0x88);
        t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD);
        t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD);
        t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD);
        t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
        Avx512F.Shuffle4x128(t0, t8, 0x88).Store(target + (0 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t1, t9, 0x88).Store(target + (1 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t2, t10, 0x88).Store(target + (2 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t3, t11, 0x88).Store(target + (3 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t4, t12, 0x88).Store(target + (4 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t5, t13, 0x88).Store(target + (5 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t6, t14, 0x88).Store(target + (6 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t7, t15, 0x88).Store(target + (7 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t0, t8, 0xDD).Store(target + (8 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t1, t9, 0xDD).Store(target + (9 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t2, t10, 0xDD).Store(target + (10 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t3, t11, 0xDD).Store(target + (11 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t4, t12, 0xDD).Store(target + (12 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t5, t13, 0xDD).Store(target + (13 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t6, t14, 0xDD).Store(target + (14 * PackedMatrix.Strip));
        Avx512F.Shuffle4x128(t7, t15, 0xDD).Store(target + (15 * PackedMatrix.Strip));
    }

    /// <summary>Part p of n takes strips [p·strips/n, (p+1)·strips/n).</summary>
    private sealed class StripJob : TeamJob
    {
        public Call Work;
        public int Count;

        public override void Execute(int part, int parts) => Work.Strips((int)((long)Count * part / parts), (int)((long)Count * (part + 1) / parts));
    }

    // n is W's columns (Y's valid columns); ldy is the stride of Y's (and the residual's) rows, n or more.
    private readonly struct Call(float* x, float* w, float* bias, float* y, float* residual, int rows, int k, int n, int ldy, DenseOutput output)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Strips(int first, int last)
        {
            for (int s = first; s < last; s++)
            {
                if (Vector512.IsHardwareAccelerated) Strip<Simd512, Vector512<float>>(s);
                else if (Vector256.IsHardwareAccelerated) Strip<Simd256, Vector256<float>>(s);
                else if (Vector128.IsHardwareAccelerated) Strip<Simd128, Vector128<float>>(s);
                else Strip<SimdScalar, float>(s);
            }
        }

        private void Strip<TOps, TV>(int strip)
            where TOps : ISimd<TV>
            where TV : struct
        {
            switch (output)
            {
                case DenseOutput.Gelu: Strip<TOps, TV, GeluOutput>(strip); break;
                case DenseOutput.Residual: Strip<TOps, TV, ResidualOutput>(strip); break;
                default: Strip<TOps, TV, PlainOutput>(strip); break;
            }
        }

        // One strip: its tiles of 4 (or 2) registers, each for every group of rows; a tile that runs past Y's last column is
        // computed into a scratch tile and its valid columns finished one by one.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Strip<TOps, TV, TOut>(int strip)
            where TOps : ISimd<TV>
            where TV : struct
            where TOut : struct, IDenseOutput
        {
            const int S = PackedMatrix.Strip;
            int tile = (TOps.WideRegisterFile ? 4 : 2) * TOps.Width;
            float* b = w + ((long)strip * k * S);
            int end = Math.Min((strip + 1) * S, n);
            float* scratch = stackalloc float[PanelGemm.Rows * S];
            for (int column = strip * S; column < end; column += tile)
            {
                float* bt = b + (column - (strip * S));
                if (column + tile <= n)
                {
                    Rows<TOps, TV, TOut>(x, k, rows, bt, k, bias is null ? null : bias + column, y + column, ldy, residual is null ? null : residual + column, ldy);
                    continue;
                }

                int valid = n - column;
                for (int g = 0; g < rows; g += PanelGemm.Rows)
                {
                    int count = Math.Min(PanelGemm.Rows, rows - g);
                    Rows<TOps, TV, PlainOutput>(x + ((long)g * k), k, count, bt, k, null, scratch, tile, null, 0);
                    for (int r = 0; r < count; r++)
                    {
                        for (int j = 0; j < valid; j++)
                        {
                            long at = ((long)(g + r) * ldy) + column + j;
                            float v = scratch[(r * tile) + j] + (bias is null ? 0 : bias[column + j]);
                            y[at] = TOut.Gelu ? (float)(0.5 * v * (1 + Activation.Erf(v / Math.Sqrt(2)))) : TOut.Residual ? v + residual[at] : v;
                        }
                    }
                }
            }
        }
    }

    // Groups of 6 rows, then the rest by one kernel compiled for its count.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<TOps, TV, TOut>(float* a, int lda, int count, float* b, int depth, float* bias, float* y, int ldy, float* residual, int ldr)
        where TOps : ISimd<TV>
        where TV : struct
        where TOut : struct, IDenseOutput
    {
        int g = 0, columns = (TOps.WideRegisterFile ? 4 : 2) * TOps.Width;
        for (; g + PanelGemm.Rows <= count; g += PanelGemm.Rows)
        {
            Tile<TOps, TV, TileRows6, TOut>(a + ((long)g * lda), lda, b, depth, bias, y + ((long)g * ldy), ldy, residual + ((long)g * ldr), ldr);
            if (TOut.Gelu) GeluRows<TOps, TV>(y + ((long)g * ldy), ldy, PanelGemm.Rows, columns);
        }

        float* ag = a + ((long)g * lda), yg = y + ((long)g * ldy), rg = residual + ((long)g * ldr);
        switch (count - g)
        {
            case 1: Tile<TOps, TV, TileRows1, TOut>(ag, lda, b, depth, bias, yg, ldy, rg, ldr); break;
            case 2: Tile<TOps, TV, TileRows2, TOut>(ag, lda, b, depth, bias, yg, ldy, rg, ldr); break;
            case 3: Tile<TOps, TV, TileRows3, TOut>(ag, lda, b, depth, bias, yg, ldy, rg, ldr); break;
            case 4: Tile<TOps, TV, TileRows4, TOut>(ag, lda, b, depth, bias, yg, ldy, rg, ldr); break;
            case 5: Tile<TOps, TV, TileRows5, TOut>(ag, lda, b, depth, bias, yg, ldy, rg, ldr); break;
            default: break;
        }

        if (TOut.Gelu && count > g) GeluRows<TOps, TV>(yg, ldy, count - g, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<TOps, TV, TRows, TOut>(float* a, int lda, float* b, int depth, float* bias, float* y, int ldy, float* residual, int ldr)
        where TOps : ISimd<TV>
        where TV : struct
        where TRows : struct, IRowCount
        where TOut : struct, IDenseOutput
    {
        if (TOps.WideRegisterFile) Tile4<TOps, TV, TRows, TOut>(a, lda, b, depth, bias, y, ldy, residual, ldr);
        else Tile2<TOps, TV, TRows, TOut>(a, lda, b, depth, bias, y, ldy, residual, ldr);
    }

    /// <summary>
    /// Y[r × 4·W] for r = <typeparamref name="TRows"/> rows of X (1–6) against 4 registers of one strip of W. The
    /// accumulators start from the bias (and the residual) and are stored as they are; GELU is a second pass over the tile
    /// while it is in L1 (GeluRows). Inlined here, GELU's code pushed the method past what the JIT tracks, and it spilled and
    /// reloaded 12 accumulators on every step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Tile4<TOps, TV, TRows, TOut>(float* a, int lda, float* b, int depth, float* bias, float* y, int ldy, float* residual, int ldr)
        where TOps : ISimd<TV>
        where TV : struct
        where TRows : struct, IRowCount
        where TOut : struct, IDenseOutput
    {
        int w = TOps.Width;
        float* a0 = a, a1 = a + lda, a2 = a + (2 * lda), a3 = a + (3 * lda), a4 = a + (4 * lda), a5 = a + (5 * lda);
        TV c0 = TOps.Zero, c1 = TOps.Zero, c2 = TOps.Zero, c3 = TOps.Zero;
        if (bias is not null)
        {
            c0 = TOps.Load(bias);
            c1 = TOps.Load(bias + w);
            c2 = TOps.Load(bias + (2 * w));
            c3 = TOps.Load(bias + (3 * w));
        }

        TV x00 = c0, x01 = c1, x02 = c2, x03 = c3;
        TV x10 = c0, x11 = c1, x12 = c2, x13 = c3;
        TV x20 = c0, x21 = c1, x22 = c2, x23 = c3;
        TV x30 = c0, x31 = c1, x32 = c2, x33 = c3;
        TV x40 = c0, x41 = c1, x42 = c2, x43 = c3;
        TV x50 = c0, x51 = c1, x52 = c2, x53 = c3;
        if (TOut.Residual)
        {
            x00 = TOps.Add(c0, TOps.Load(residual));
            x01 = TOps.Add(c1, TOps.Load(residual + w));
            x02 = TOps.Add(c2, TOps.Load(residual + (2 * w)));
            x03 = TOps.Add(c3, TOps.Load(residual + (3 * w)));

            if (TRows.Count > 1)
            {
                x10 = TOps.Add(c0, TOps.Load(residual + ldr));
                x11 = TOps.Add(c1, TOps.Load(residual + ldr + w));
                x12 = TOps.Add(c2, TOps.Load(residual + ldr + (2 * w)));
                x13 = TOps.Add(c3, TOps.Load(residual + ldr + (3 * w)));
            }

            if (TRows.Count > 2)
            {
                x20 = TOps.Add(c0, TOps.Load(residual + (2 * ldr)));
                x21 = TOps.Add(c1, TOps.Load(residual + (2 * ldr) + w));
                x22 = TOps.Add(c2, TOps.Load(residual + (2 * ldr) + (2 * w)));
                x23 = TOps.Add(c3, TOps.Load(residual + (2 * ldr) + (3 * w)));
            }

            if (TRows.Count > 3)
            {
                x30 = TOps.Add(c0, TOps.Load(residual + (3 * ldr)));
                x31 = TOps.Add(c1, TOps.Load(residual + (3 * ldr) + w));
                x32 = TOps.Add(c2, TOps.Load(residual + (3 * ldr) + (2 * w)));
                x33 = TOps.Add(c3, TOps.Load(residual + (3 * ldr) + (3 * w)));
            }

            if (TRows.Count > 4)
            {
                x40 = TOps.Add(c0, TOps.Load(residual + (4 * ldr)));
                x41 = TOps.Add(c1, TOps.Load(residual + (4 * ldr) + w));
                x42 = TOps.Add(c2, TOps.Load(residual + (4 * ldr) + (2 * w)));
                x43 = TOps.Add(c3, TOps.Load(residual + (4 * ldr) + (3 * w)));
            }

            if (TRows.Count > 5)
            {
                x50 = TOps.Add(c0, TOps.Load(residual + (5 * ldr)));
                x51 = TOps.Add(c1, TOps.Load(residual + (5 * ldr) + w));
                x52 = TOps.Add(c2, TOps.Load(residual + (5 * ldr) + (2 * w)));
                x53 = TOps.Add(c3, TOps.Load(residual + (5 * ldr) + (3 * w)));
            }
        }

        for (int k = 0; k < depth; k++)
        {
            float* bk = b + ((long)k * PackedMatrix.Strip);
            TV b0 = TOps.Load(bk);
            TV b1 = TOps.Load(bk + w);
            TV b2 = TOps.Load(bk + (2 * w));
            TV b3 = TOps.Load(bk + (3 * w));
            TV r0 = TOps.Splat(a0[k]);
            x00 = TOps.MultiplyAdd(r0, b0, x00);
            x01 = TOps.MultiplyAdd(r0, b1, x01);
            x02 = TOps.MultiplyAdd(r0, b2, x02);
            x03 = TOps.MultiplyAdd(r0, b3, x03);
            if (TRows.Count > 1)
            {
                TV r1 = TOps.Splat(a1[k]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                x11 = TOps.MultiplyAdd(r1, b1, x11);
                x12 = TOps.MultiplyAdd(r1, b2, x12);
                x13 = TOps.MultiplyAdd(r1, b3, x13);
            }

            if (TRows.Count > 2)
            {
                TV r2 = TOps.Splat(a2[k]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                x21 = TOps.MultiplyAdd(r2, b1, x21);
                x22 = TOps.MultiplyAdd(r2, b2, x22);
                x23 = TOps.MultiplyAdd(r2, b3, x23);
            }

            if (TRows.Count > 3)
            {
                TV r3 = TOps.Splat(a3[k]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                x31 = TOps.MultiplyAdd(r3, b1, x31);
                x32 = TOps.MultiplyAdd(r3, b2, x32);
                x33 = TOps.MultiplyAdd(r3, b3, x33);
            }

            if (TRows.Count > 4)
            {
                TV r4 = TOps.Splat(a4[k]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
                x42 = TOps.MultiplyAdd(r4, b2, x42);
                x43 = TOps.MultiplyAdd(r4, b3, x43);
            }

            if (TRows.Count > 5)
            {
                TV r5 = TOps.Splat(a5[k]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
                x52 = TOps.MultiplyAdd(r5, b2, x52);
                x53 = TOps.MultiplyAdd(r5, b3, x53);
            }
        }

        TOps.Store(x00, y);
        TOps.Store(x01, y + w);
        TOps.Store(x02, y + (2 * w));
        TOps.Store(x03, y + (3 * w));

        if (TRows.Count > 1)
        {
            TOps.Store(x10, y + ldy);
            TOps.Store(x11, y + ldy + w);
            TOps.Store(x12, y + ldy + (2 * w));
            TOps.Store(x13, y + ldy + (3 * w));
        }

        if (TRows.Count > 2)
        {
            TOps.Store(x20, y + (2 * ldy));
            TOps.Store(x21, y + (2 * ldy) + w);
            TOps.Store(x22, y + (2 * ldy) + (2 * w));
            TOps.Store(x23, y + (2 * ldy) + (3 * w));
        }

        if (TRows.Count > 3)
        {
            TOps.Store(x30, y + (3 * ldy));
            TOps.Store(x31, y + (3 * ldy) + w);
            TOps.Store(x32, y + (3 * ldy) + (2 * w));
            TOps.Store(x33, y + (3 * ldy) + (3 * w));
        }

        if (TRows.Count > 4)
        {
            TOps.Store(x40, y + (4 * ldy));
            TOps.Store(x41, y + (4 * ldy) + w);
            TOps.Store(x42, y + (4 * ldy) + (2 * w));
            TOps.Store(x43, y + (4 * ldy) + (3 * w));
        }

        if (TRows.Count > 5)
        {
            TOps.Store(x50, y + (5 * ldy));
            TOps.Store(x51, y + (5 * ldy) + w);
            TOps.Store(x52, y + (5 * ldy) + (2 * w));
            TOps.Store(x53, y + (5 * ldy) + (3 * w));
        }
    }

    /// <summary>
    /// Y[r × 2·W] for r = <typeparamref name="TRows"/> rows of X (1–6) against 2 registers of one strip of W. The
    /// accumulators start from the bias (and the residual) and are stored as they are; GELU is a second pass over the tile
    /// while it is in L1 (GeluRows). Inlined here, GELU's code pushed the method past what the JIT tracks, and it spilled and
    /// reloaded 12 accumulators on every step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // too large to inline: optimized from the first call
    private static void Tile2<TOps, TV, TRows, TOut>(float* a, int lda, float* b, int depth, float* bias, float* y, int ldy, float* residual, int ldr)
        where TOps : ISimd<TV>
        where TV : struct
        where TRows : struct, IRowCount
        where TOut : struct, IDenseOutput
    {
        int w = TOps.Width;
        float* a0 = a, a1 = a + lda, a2 = a + (2 * lda), a3 = a + (3 * lda), a4 = a + (4 * lda), a5 = a + (5 * lda);
        TV c0 = TOps.Zero, c1 = TOps.Zero;
        if (bias is not null)
        {
            c0 = TOps.Load(bias);
            c1 = TOps.Load(bias + w);
        }

        TV x00 = c0, x01 = c1;
        TV x10 = c0, x11 = c1;
        TV x20 = c0, x21 = c1;
        TV x30 = c0, x31 = c1;
        TV x40 = c0, x41 = c1;
        TV x50 = c0, x51 = c1;
        if (TOut.Residual)
        {
            x00 = TOps.Add(c0, TOps.Load(residual));
            x01 = TOps.Add(c1, TOps.Load(residual + w));

            if (TRows.Count > 1)
            {
                x10 = TOps.Add(c0, TOps.Load(residual + ldr));
                x11 = TOps.Add(c1, TOps.Load(residual + ldr + w));
            }

            if (TRows.Count > 2)
            {
                x20 = TOps.Add(c0, TOps.Load(residual + (2 * ldr)));
                x21 = TOps.Add(c1, TOps.Load(residual + (2 * ldr) + w));
            }

            if (TRows.Count > 3)
            {
                x30 = TOps.Add(c0, TOps.Load(residual + (3 * ldr)));
                x31 = TOps.Add(c1, TOps.Load(residual + (3 * ldr) + w));
            }

            if (TRows.Count > 4)
            {
                x40 = TOps.Add(c0, TOps.Load(residual + (4 * ldr)));
                x41 = TOps.Add(c1, TOps.Load(residual + (4 * ldr) + w));
            }

            if (TRows.Count > 5)
            {
                x50 = TOps.Add(c0, TOps.Load(residual + (5 * ldr)));
                x51 = TOps.Add(c1, TOps.Load(residual + (5 * ldr) + w));
            }
        }

        for (int k = 0; k < depth; k++)
        {
            float* bk = b + ((long)k * PackedMatrix.Strip);
            TV b0 = TOps.Load(bk);
            TV b1 = TOps.Load(bk + w);
            TV r0 = TOps.Splat(a0[k]);
            x00 = TOps.MultiplyAdd(r0, b0, x00);
            x01 = TOps.MultiplyAdd(r0, b1, x01);
            if (TRows.Count > 1)
            {
                TV r1 = TOps.Splat(a1[k]);
                x10 = TOps.MultiplyAdd(r1, b0, x10);
                x11 = TOps.MultiplyAdd(r1, b1, x11);
            }

            if (TRows.Count > 2)
            {
                TV r2 = TOps.Splat(a2[k]);
                x20 = TOps.MultiplyAdd(r2, b0, x20);
                x21 = TOps.MultiplyAdd(r2, b1, x21);
            }

            if (TRows.Count > 3)
            {
                TV r3 = TOps.Splat(a3[k]);
                x30 = TOps.MultiplyAdd(r3, b0, x30);
                x31 = TOps.MultiplyAdd(r3, b1, x31);
            }

            if (TRows.Count > 4)
            {
                TV r4 = TOps.Splat(a4[k]);
                x40 = TOps.MultiplyAdd(r4, b0, x40);
                x41 = TOps.MultiplyAdd(r4, b1, x41);
            }

            if (TRows.Count > 5)
            {
                TV r5 = TOps.Splat(a5[k]);
                x50 = TOps.MultiplyAdd(r5, b0, x50);
                x51 = TOps.MultiplyAdd(r5, b1, x51);
            }
        }

        TOps.Store(x00, y);
        TOps.Store(x01, y + w);

        if (TRows.Count > 1)
        {
            TOps.Store(x10, y + ldy);
            TOps.Store(x11, y + ldy + w);
        }

        if (TRows.Count > 2)
        {
            TOps.Store(x20, y + (2 * ldy));
            TOps.Store(x21, y + (2 * ldy) + w);
        }

        if (TRows.Count > 3)
        {
            TOps.Store(x30, y + (3 * ldy));
            TOps.Store(x31, y + (3 * ldy) + w);
        }

        if (TRows.Count > 4)
        {
            TOps.Store(x40, y + (4 * ldy));
            TOps.Store(x41, y + (4 * ldy) + w);
        }

        if (TRows.Count > 5)
        {
            TOps.Store(x50, y + (5 * ldy));
            TOps.Store(x51, y + (5 * ldy) + w);
        }
    }


    /// <summary>Y[r, j] = GELU(Y[r, j]) for r &lt; <paramref name="count"/>, j &lt; <paramref name="columns"/> (a multiple of the register width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GeluRows<TOps, TV>(float* y, int ldy, int count, int columns)
        where TOps : ISimd<TV>
        where TV : struct
    {
        for (int r = 0; r < count; r++)
        {
            float* yr = y + ((long)r * ldy);
            for (int j = 0; j < columns; j += TOps.Width) TOps.Store(Gelu<TOps, TV>(TOps.Load(yr + j)), yr + j);
        }
    }

    /// <summary>GELU(v) = ½·v·(1 + erf(v/√2)), erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7), as <see cref="Activation.GeluErfFast"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Gelu<TOps, TV>(TV v)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV one = TOps.Splat(1f);
        TV z = TOps.Multiply(TOps.Abs(v), TOps.Splat(0.70710678118654752f));
        TV t = TOps.Divide(one, TOps.MultiplyAdd(z, TOps.Splat(0.3275911f), one));
        TV p = TOps.MultiplyAdd(TOps.Splat(1.061405429f), t, TOps.Splat(-1.453152027f));
        p = TOps.MultiplyAdd(p, t, TOps.Splat(1.421413741f));
        p = TOps.MultiplyAdd(p, t, TOps.Splat(-0.284496736f));
        p = TOps.MultiplyAdd(p, t, TOps.Splat(0.254829592f));
        TV erf = TOps.Subtract(one, TOps.Multiply(TOps.Multiply(p, t), Heed.Kernels.VectorMath.Exp<TOps, TV>(TOps.Subtract(TOps.Zero, TOps.Multiply(z, z)))));
        erf = TOps.SelectLess(v, TOps.Zero, TOps.Subtract(TOps.Zero, erf), erf);
        return TOps.Multiply(TOps.Multiply(TOps.Splat(0.5f), v), TOps.Add(one, erf));
    }
}

/// <summary>The rows of one <see cref="Gemm"/> tile, as a type so that the JIT compiles a copy per count.</summary>
internal interface IRowCount
{
    /// <summary>1 to 6.</summary>
    static abstract int Count { get; }
}

/// <summary>The epilogue of one <see cref="Gemm"/> product, as a type so that the JIT compiles a copy per kind.</summary>
internal interface IDenseOutput
{
    /// <summary>GELU after the bias.</summary>
    static abstract bool Gelu { get; }

    /// <summary>A residual added after the bias.</summary>
    static abstract bool Residual { get; }
}

internal readonly struct TileRows1 : IRowCount
{
    public static int Count => 1;
}

internal readonly struct TileRows2 : IRowCount
{
    public static int Count => 2;
}

internal readonly struct TileRows3 : IRowCount
{
    public static int Count => 3;
}

internal readonly struct TileRows4 : IRowCount
{
    public static int Count => 4;
}

internal readonly struct TileRows5 : IRowCount
{
    public static int Count => 5;
}

internal readonly struct TileRows6 : IRowCount
{
    public static int Count => 6;
}

internal readonly struct PlainOutput : IDenseOutput
{
    public static bool Gelu => false;

    public static bool Residual => false;
}

internal readonly struct GeluOutput : IDenseOutput
{
    public static bool Gelu => true;

    public static bool Residual => false;
}

internal readonly struct ResidualOutput : IDenseOutput
{
    public static bool Gelu => false;

    public static bool Residual => true;
}
