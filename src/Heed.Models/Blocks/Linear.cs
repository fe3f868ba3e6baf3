using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Heed.Models.Blocks;

/// <summary>
/// Dense matrix products for transformer layers. Weights are stored row-major with the output dimension first
/// (W [out, in], y = W·x), the layout of llama2.c checkpoints and of PyTorch's <c>nn.Linear</c>.
/// </summary>
public static class Linear
{
    // Hot methods here and in the other blocks are marked AggressiveOptimization: a short generation (a few
    // milliseconds) would otherwise run mostly on tier-0 code before tiered compilation catches up.

    // Below this many multiply-adds per call, handing work to other threads costs more than it saves (a stories260K decode
    // step is ~4k–33k per product). The persistent team hands a product over in about a microsecond, so the 15M shape's
    // 83k and 221k products (15–60 µs each, streaming their weights from memory) are split too.
    private const long ParallelThreshold = 1L << 16;

    /// <summary>
    /// Y = X·Wᵀ (+ bias) (+ Y when <paramref name="accumulate"/>): X [T, in], W [out, in], bias [out] → Y [T, out].
    /// </summary>
    /// <param name="x">X [T, in], row-major.</param>
    /// <param name="weight">W [out, in], row-major.</param>
    /// <param name="bias">Optional bias [out]; empty for none.</param>
    /// <param name="y">Y [T, out]; must not overlap X.</param>
    /// <param name="rows">T, the number of rows of X.</param>
    /// <param name="inFeatures">in, the width of X and of each row of W.</param>
    /// <param name="outFeatures">out, the number of rows of W.</param>
    /// <param name="accumulate">Adds the product to Y instead of overwriting it (a residual connection).</param>
    /// <param name="threads">At most this many threads; 1 = the calling thread only.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(
        ReadOnlySpan<float> x,
        ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias,
        Span<float> y,
        int rows,
        int inFeatures,
        int outFeatures,
        bool accumulate = false,
        int threads = 1)
    {
        if (x.Length < (long)rows * inFeatures || weight.Length < (long)outFeatures * inFeatures || y.Length < (long)rows * outFeatures)
        {
            throw new ArgumentException($"MatMul: X holds {x.Length} of {rows}×{inFeatures}, W {weight.Length} of {outFeatures}×{inFeatures}, Y {y.Length} of {rows}×{outFeatures}");
        }

        if (!bias.IsEmpty && bias.Length < outFeatures)
        {
            throw new ArgumentException($"MatMul: bias holds {bias.Length} values; expected {outFeatures}", nameof(bias));
        }

        long work = (long)rows * inFeatures * outFeatures;
        int blocks = (outFeatures + 3) / 4;
        if (threads <= 1 || work < ParallelThreshold || blocks < 2)
        {
            MatMulBlocks(x, weight, bias, y, rows, inFeatures, outFeatures, accumulate, 0, blocks);
            return;
        }

        MatMulParallel(x, weight, bias, y, rows, inFeatures, outFeatures, accumulate, threads, blocks);
    }

    [ThreadStatic]
    private static ProductJob? _threadJob;

    [ThreadStatic]
    private static ProductJob[]? _groupJobs;

    /// <summary>
    /// Product <paramref name="slot"/> (0–2) of a group run as one team job (<see cref="WeightMatrix.MatMulGroup"/>): Y = X·Wᵀ
    /// (+ Y) without a bias, set up but not run; the caller keeps every operand pinned until the group has run.
    /// </summary>
    internal static unsafe TeamJob PrepareGroupJob(int slot, float* x, int xLength, float* w, int wLength, float* y, int yLength, int rows, int inFeatures, int outFeatures, bool accumulate)
    {
        ProductJob[] jobs = _groupJobs ??= [new ProductJob(), new ProductJob(), new ProductJob()];
        ProductJob job = jobs[slot];
        job.X = x;
        job.W = w;
        job.B = null;
        job.Y = y;
        (job.XLength, job.WLength, job.BLength, job.YLength) = (xLength, wLength, 0, yLength);
        (job.Rows, job.In, job.Out, job.Accumulate, job.Blocks) = (rows, inFeatures, outFeatures, accumulate, (outFeatures + 3) / 4);
        return job;
    }

    /// <summary>Lets go of a group job's pointers.</summary>
    internal static unsafe void ClearGroupJob(TeamJob job)
    {
        var product = (ProductJob)job;
        product.X = product.W = product.B = product.Y = null;
    }

    // Kept apart from MatMul so the single-threaded path stays free of pinning and job set-up.
    private static unsafe void MatMulParallel(
        ReadOnlySpan<float> x,
        ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias,
        Span<float> y,
        int rows,
        int inFeatures,
        int outFeatures,
        bool accumulate,
        int threads,
        int blocks)
    {
        // Spans cannot be stored in a job: pin the arrays' memory while the team runs it.
        fixed (float* px = x, pw = weight, pb = bias, py = y)
        {
            ProductJob job = _threadJob ??= new ProductJob();
            job.X = px;
            job.W = pw;
            job.B = pb;
            job.Y = py;
            (job.XLength, job.WLength, job.BLength, job.YLength) = (x.Length, weight.Length, bias.Length, y.Length);
            (job.Rows, job.In, job.Out, job.Accumulate, job.Blocks) = (rows, inFeatures, outFeatures, accumulate, blocks);
            int parts = Math.Min(threads, blocks);
            ThreadTeam.Shared(parts).Run(job, parts);
            job.X = job.W = job.B = job.Y = null;
        }
    }

    /// <summary>One product's operands as pointers; part p of n takes blocks of four output rows [p·blocks/n, (p+1)·blocks/n).</summary>
    private sealed unsafe class ProductJob : TeamJob
    {
        public float* X;
        public float* W;
        public float* B;
        public float* Y;
        public int XLength, WLength, BLength, YLength, Rows, In, Out, Blocks;
        public bool Accumulate;

        public override void Execute(int part, int parts)
        {
            int first = (int)((long)Blocks * part / parts);
            int last = (int)((long)Blocks * (part + 1) / parts);
            if (Rows >= Gemm.PrefillRows)
            {
                // Whole strips of 64 rows (16 blocks), so that every output row lands in the same strip, and so gets the same
                // bits, whatever the number of parts (a last, partial strip adds its bias after the sum).
                int strips = (Blocks + 15) / 16;
                first = Math.Min(16 * (int)((long)strips * part / parts), Blocks);
                last = Math.Min(16 * (int)((long)strips * (part + 1) / parts), Blocks);
            }

            MatMulBlocks(
                new ReadOnlySpan<float>(X, XLength),
                new ReadOnlySpan<float>(W, WLength),
                new ReadOnlySpan<float>(B, BLength),
                new Span<float>(Y, YLength),
                Rows,
                In,
                Out,
                Accumulate,
                first,
                last);
        }
    }

    // Output rows are taken four at a time so each load of X feeds four dot products.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulBlocks(
        ReadOnlySpan<float> x,
        ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias,
        Span<float> y,
        int rows,
        int inFeatures,
        int outFeatures,
        bool accumulate,
        int firstBlock,
        int lastBlock)
    {
        if (rows >= Gemm.PrefillRows)
        {
            StripProducts(x, weight, bias, y, rows, inFeatures, outFeatures, accumulate, firstBlock * 4, Math.Min(lastBlock * 4, outFeatures));
            return;
        }

        if (rows == 1 && Vector512.IsHardwareAccelerated)
        {
            // A decode step: one row of W after another, in address order, so the part streams its share of W as one run
            // of memory (four rows side by side were four short streams per block; see docs/kernels.md).
            int first = firstBlock * 4, end = Math.Min(lastBlock * 4, outFeatures);
            if (first < end) DotRows(x[..inFeatures], weight.Slice(first * inFeatures, (end - first) * inFeatures), bias.IsEmpty ? bias : bias[first..end], y[first..end], accumulate);
            return;
        }

        for (int block = firstBlock; block < lastBlock; block++)
        {
            int o = block * 4;
            if (o + 4 <= outFeatures)
            {
                ReadOnlySpan<float> w0 = weight.Slice(o * inFeatures, inFeatures);
                ReadOnlySpan<float> w1 = weight.Slice((o + 1) * inFeatures, inFeatures);
                ReadOnlySpan<float> w2 = weight.Slice((o + 2) * inFeatures, inFeatures);
                ReadOnlySpan<float> w3 = weight.Slice((o + 3) * inFeatures, inFeatures);
                int t = 0;
                if (Vector512.IsHardwareAccelerated && bias.IsEmpty && inFeatures % 16 == 0)
                {
                    for (; t + 4 <= rows; t += 4) Tile4x4(x.Slice(t * inFeatures, 4 * inFeatures), w0, w1, w2, w3, y.Slice((t * outFeatures) + o), outFeatures, accumulate);
                }

                for (; t < rows; t++)
                {
                    ReadOnlySpan<float> xr = x.Slice(t * inFeatures, inFeatures);
                    Dot4(xr, w0, w1, w2, w3, out float s0, out float s1, out float s2, out float s3);
                    Span<float> yr = y.Slice((t * outFeatures) + o, 4);
                    if (!bias.IsEmpty)
                    {
                        s0 += bias[o];
                        s1 += bias[o + 1];
                        s2 += bias[o + 2];
                        s3 += bias[o + 3];
                    }

                    if (accumulate)
                    {
                        yr[0] += s0;
                        yr[1] += s1;
                        yr[2] += s2;
                        yr[3] += s3;
                    }
                    else
                    {
                        yr[0] = s0;
                        yr[1] = s1;
                        yr[2] = s2;
                        yr[3] = s3;
                    }
                }
            }
            else
            {
                for (int oo = o; oo < outFeatures; oo++)
                {
                    ReadOnlySpan<float> wr = weight.Slice(oo * inFeatures, inFeatures);
                    for (int t = 0; t < rows; t++)
                    {
                        float s = Dot(x.Slice(t * inFeatures, inFeatures), wr);
                        if (!bias.IsEmpty) s += bias[oo];
                        ref float target = ref y[(t * outFeatures) + oo];
                        target = accumulate ? target + s : s;
                    }
                }
            }
        }
    }

    // Prefill: output rows [first, end) 64 at a time, each group packed as a strip [in, 64] (Gemm.PackRows16) and multiplied
    // with every row of X by the encoder's tiles (Gemm.MultiplyStrip), the bias added in registers.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void StripProducts(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, int rows, int inFeatures, int outFeatures, bool accumulate, int first, int end)
    {
        const int S = PackedMatrix.Strip;
        float[] strip = Gemm.StripBuffer(inFeatures);
        fixed (float* px = x, pw = weight, pb = bias, py = y, ps = strip)
        {
            for (int o = first; o < end; o += S)
            {
                int count = Math.Min(S, end - o);
                for (int c = 0; c < S; c += 16) Gemm.PackRows16(pw + ((long)(o + c) * inFeatures), inFeatures, Math.Clamp(count - c, 0, 16), inFeatures, ps, c);
                Gemm.MultiplyStrip(px, rows, inFeatures, ps, bias.IsEmpty ? null : pb + o, py + o, outFeatures, count, accumulate);
            }
        }
    }

    /// <summary>
    /// y[o] (+)= x·w_o (+ bias[o]) for the rows of <paramref name="w"/> [y.Length, x.Length], one after another in address
    /// order, so that a part streams its share of W as one run of memory (AVX-512). Per row, four accumulators over 64 values
    /// per step keep four independent chains of multiply-adds and the row's loads in flight; then 16 at a time, then one at a
    /// time. The loop over rows stays in this method, over pointers (a slice and a call per row cost 4–5% of the streaming
    /// rate over the 110M classifier; docs/kernels.md, GGUF entry 16).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DotRows(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y, bool accumulate)
    {
        nuint n = (nuint)x.Length;
        if ((long)w.Length < (long)y.Length * x.Length || (!bias.IsEmpty && bias.Length < y.Length))
        {
            throw new ArgumentException($"DotRows: W {w.Length} for {y.Length} rows of {x.Length}, bias {bias.Length}");
        }

        fixed (float* px = x, pw = w, pb = bias, py = y)
        {
            float* row = pw;
            for (int o = 0; o < y.Length; o++, row += n)
            {
                nuint i = 0;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; i + 64 <= n; i += 64)
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(px + i), Vector512.Load(row + i), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(px + i + 16), Vector512.Load(row + i + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(px + i + 32), Vector512.Load(row + i + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(px + i + 48), Vector512.Load(row + i + 48), a3);
                }

                for (; i + 16 <= n; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(px + i), Vector512.Load(row + i), a0);
                float sum = VectorMath.SumAcross((a0 + a2) + (a1 + a3));
                for (; i < n; i++) sum += px[i] * row[i];
                if (pb is not null) sum += pb[o];
                py[o] = accumulate ? py[o] + sum : sum;
            }
        }
    }

    /// <summary>Σ a[i]·b[i] over the shorter length's worth of <paramref name="a"/> (both must have a's length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length;
        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b[..n]);
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref ra, (nuint)i), Vector512.LoadUnsafe(ref rb, (nuint)i), acc);
            }

            sum = Vector512.Sum(acc);
        }

        if (Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), acc);
            }

            sum += Vector256.Sum(acc);
        }

        if (Vector128.IsHardwareAccelerated && n - i >= 4)
        {
            Vector128<float> acc = Vector128<float>.Zero;
            for (; i <= n - 4; i += 4)
            {
                acc = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref ra, (nuint)i), Vector128.LoadUnsafe(ref rb, (nuint)i), acc);
            }

            sum += Vector128.Sum(acc);
        }

        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref ra, i) * Unsafe.Add(ref rb, i);
        }

        return sum;
    }

    /// <summary>
    /// The prefill tile: four rows of X [4, in] against four rows of W [4, in] → Y[t, j] (+)= x_t·w_j for t, j &lt; 4, where
    /// Y row t starts at <paramref name="y"/>[t·<paramref name="stride"/>]; in is a multiple of 16. Each step loads 4 weight
    /// and 4 activation vectors for 16 multiply-adds into 16 accumulators, so the product runs at the FMA rate instead of the
    /// load rate (Dot4's 5 loads per 4 multiply-adds). AVX-512 only: callers take Dot4 per row elsewhere. The weights' rows
    /// may be any memory of in floats (a dequantized tile of a block type).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Tile4x4(ReadOnlySpan<float> x, ReadOnlySpan<float> w0, ReadOnlySpan<float> w1, ReadOnlySpan<float> w2, ReadOnlySpan<float> w3, Span<float> y, int stride, bool accumulate)
    {
        int n = w0.Length;
        if (n % 16 != 0 || x.Length < 4 * n || w1.Length < n || w2.Length < n || w3.Length < n || y.Length < (3 * stride) + 4)
        {
            throw new ArgumentException($"Tile4x4: X {x.Length}, W rows of {n} (a multiple of 16), Y {y.Length} at stride {stride}");
        }

        // The loop keeps its state in registers only when nothing in the method holds a vector across a call (all vector
        // registers are caller-saved on SysV x64) and the rows of X are addressed from one reference: a first version with
        // a local function for the stores and four row references spilled 12 of the 16 accumulators on every step (3× slower).
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float r0 = ref MemoryMarshal.GetReference(w0);
        ref float r1 = ref MemoryMarshal.GetReference(w1);
        ref float r2 = ref MemoryMarshal.GetReference(w2);
        ref float r3 = ref MemoryMarshal.GetReference(w3);
        nuint row = (nuint)n;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
        for (nuint i = 0; i < row; i += 16)
        {
            Vector512<float> v0 = Vector512.LoadUnsafe(ref r0, i), v1 = Vector512.LoadUnsafe(ref r1, i);
            Vector512<float> v2 = Vector512.LoadUnsafe(ref r2, i), v3 = Vector512.LoadUnsafe(ref r3, i);
            Vector512<float> xv = Vector512.LoadUnsafe(ref rx, i);
            a00 = Vector512.FusedMultiplyAdd(xv, v0, a00);
            a01 = Vector512.FusedMultiplyAdd(xv, v1, a01);
            a02 = Vector512.FusedMultiplyAdd(xv, v2, a02);
            a03 = Vector512.FusedMultiplyAdd(xv, v3, a03);
            xv = Vector512.LoadUnsafe(ref rx, i + row);
            a10 = Vector512.FusedMultiplyAdd(xv, v0, a10);
            a11 = Vector512.FusedMultiplyAdd(xv, v1, a11);
            a12 = Vector512.FusedMultiplyAdd(xv, v2, a12);
            a13 = Vector512.FusedMultiplyAdd(xv, v3, a13);
            xv = Vector512.LoadUnsafe(ref rx, i + (2 * row));
            a20 = Vector512.FusedMultiplyAdd(xv, v0, a20);
            a21 = Vector512.FusedMultiplyAdd(xv, v1, a21);
            a22 = Vector512.FusedMultiplyAdd(xv, v2, a22);
            a23 = Vector512.FusedMultiplyAdd(xv, v3, a23);
            xv = Vector512.LoadUnsafe(ref rx, i + (3 * row));
            a30 = Vector512.FusedMultiplyAdd(xv, v0, a30);
            a31 = Vector512.FusedMultiplyAdd(xv, v1, a31);
            a32 = Vector512.FusedMultiplyAdd(xv, v2, a32);
            a33 = Vector512.FusedMultiplyAdd(xv, v3, a33);
        }

        ref float y0 = ref MemoryMarshal.GetReference(y);
        StoreFour(ref y0, Vector128.Create(Vector512.Sum(a00), Vector512.Sum(a01), Vector512.Sum(a02), Vector512.Sum(a03)), accumulate);
        StoreFour(ref Unsafe.Add(ref y0, stride), Vector128.Create(Vector512.Sum(a10), Vector512.Sum(a11), Vector512.Sum(a12), Vector512.Sum(a13)), accumulate);
        StoreFour(ref Unsafe.Add(ref y0, 2 * stride), Vector128.Create(Vector512.Sum(a20), Vector512.Sum(a21), Vector512.Sum(a22), Vector512.Sum(a23)), accumulate);
        StoreFour(ref Unsafe.Add(ref y0, 3 * stride), Vector128.Create(Vector512.Sum(a30), Vector512.Sum(a31), Vector512.Sum(a32), Vector512.Sum(a33)), accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFour(ref float y, Vector128<float> sums, bool accumulate) =>
        (accumulate ? Vector128.LoadUnsafe(ref y) + sums : sums).StoreUnsafe(ref y);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4(
        ReadOnlySpan<float> x,
        ReadOnlySpan<float> w0,
        ReadOnlySpan<float> w1,
        ReadOnlySpan<float> w2,
        ReadOnlySpan<float> w3,
        out float s0,
        out float s1,
        out float s2,
        out float s3)
    {
        int n = x.Length;
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float r0 = ref MemoryMarshal.GetReference(w0);
        ref float r1 = ref MemoryMarshal.GetReference(w1);
        ref float r2 = ref MemoryMarshal.GetReference(w2);
        ref float r3 = ref MemoryMarshal.GetReference(w3);
        int i = 0;
        s0 = s1 = s2 = s3 = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 16; i += 16)
            {
                Vector512<float> xv = Vector512.LoadUnsafe(ref rx, (nuint)i);
                a0 = Vector512.FusedMultiplyAdd(xv, Vector512.LoadUnsafe(ref r0, (nuint)i), a0);
                a1 = Vector512.FusedMultiplyAdd(xv, Vector512.LoadUnsafe(ref r1, (nuint)i), a1);
                a2 = Vector512.FusedMultiplyAdd(xv, Vector512.LoadUnsafe(ref r2, (nuint)i), a2);
                a3 = Vector512.FusedMultiplyAdd(xv, Vector512.LoadUnsafe(ref r3, (nuint)i), a3);
            }

            s0 = Vector512.Sum(a0);
            s1 = Vector512.Sum(a1);
            s2 = Vector512.Sum(a2);
            s3 = Vector512.Sum(a3);
        }

        // What is left after the widest vectors goes to narrower ones before the scalar tail (D = 172 = 10·16 + 8 + 4).
        if (Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> xv = Vector256.LoadUnsafe(ref rx, (nuint)i);
                a0 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r0, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r1, (nuint)i), a1);
                a2 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r2, (nuint)i), a2);
                a3 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r3, (nuint)i), a3);
            }

            s0 += Vector256.Sum(a0);
            s1 += Vector256.Sum(a1);
            s2 += Vector256.Sum(a2);
            s3 += Vector256.Sum(a3);
        }

        if (Vector128.IsHardwareAccelerated && n - i >= 4)
        {
            Vector128<float> a0 = Vector128<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i <= n - 4; i += 4)
            {
                Vector128<float> xv = Vector128.LoadUnsafe(ref rx, (nuint)i);
                a0 = Vector128.FusedMultiplyAdd(xv, Vector128.LoadUnsafe(ref r0, (nuint)i), a0);
                a1 = Vector128.FusedMultiplyAdd(xv, Vector128.LoadUnsafe(ref r1, (nuint)i), a1);
                a2 = Vector128.FusedMultiplyAdd(xv, Vector128.LoadUnsafe(ref r2, (nuint)i), a2);
                a3 = Vector128.FusedMultiplyAdd(xv, Vector128.LoadUnsafe(ref r3, (nuint)i), a3);
            }

            s0 += Vector128.Sum(a0);
            s1 += Vector128.Sum(a1);
            s2 += Vector128.Sum(a2);
            s3 += Vector128.Sum(a3);
        }

        for (; i < n; i++)
        {
            float xi = Unsafe.Add(ref rx, i);
            s0 += xi * Unsafe.Add(ref r0, i);
            s1 += xi * Unsafe.Add(ref r1, i);
            s2 += xi * Unsafe.Add(ref r2, i);
            s3 += xi * Unsafe.Add(ref r3, i);
        }
    }
}
