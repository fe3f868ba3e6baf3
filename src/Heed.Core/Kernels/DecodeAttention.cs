using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// Attention for a handful of query rows per key/value head (decoding: T = 1 or a few, H/Hkv queries sharing each kv
/// head). Work is split along the key axis (Flash-Decoding, Dao et al. 2023) so every thread streams its own slice of
/// K and V once for all the query heads of a group, keeps a running max, sum and output per row, and the slices are
/// merged with log-sum-exp weights. Scores are dot products over D: no transposed packing, since each key is used
/// by only a few rows.
/// </summary>
internal static unsafe class DecodeAttention
{
    /// <summary>Most query rows (T · H/Hkv) per kv head this kernel takes.</summary>
    public const int MaxRows = 16;

    /// <summary>Most query positions this kernel takes.</summary>
    public const int MaxQueryLength = 4;

    /// <summary>
    /// Keys per block between online-softmax updates when K and V come from memory (more than <see cref="CachedBytes"/>): short
    /// blocks keep the K and V streams alternating closely (S = 65536, GQA 8/2, 1 thread: 32 keys 2.74–2.82 ms, 64 keys
    /// 2.91–2.95, 128 keys 3.67–3.73).
    /// </summary>
    public const int StreamingKeyBlock = 32;

    /// <summary>
    /// Keys per block when K and V fit in the cache: long blocks spread each block's fixed costs (S = 4096: 256 keys
    /// 0.092–0.094 ms, 64 keys 0.101–0.106; S = 16384: 0.40–0.42 against 0.41–0.46).
    /// </summary>
    public const int CachedKeyBlock = 256;

    /// <summary>K and V bytes of a call up to which they are taken to stay in the last-level cache between calls (32 MiB, this machine's L3).</summary>
    public const long CachedBytes = 32L << 20;

    /// <summary>Keys per slice at the least, so the merge stays negligible.</summary>
    private const int MinSliceKeys = 512;

    /// <summary>Keys per block for the call: <see cref="CachedKeyBlock"/> or <see cref="StreamingKeyBlock"/>.</summary>
    public static int KeyBlockFor(AttentionGeometry g) =>
        (long)g.Batch * g.KvNumHeads * g.KvLength * (g.HeadSize + g.ValueHeadSize) * sizeof(float) <= CachedBytes ? CachedKeyBlock : StreamingKeyBlock;

    public static bool Fits(AttentionGeometry g) =>
        g.QueryLength <= MaxQueryLength && (long)g.QueryLength * (g.NumHeads / g.KvNumHeads) <= MaxRows;

    /// <summary>Slices of the key axis: enough for 4 work items per thread, none shorter than 512 keys.</summary>
    public static int Slices(AttentionGeometry g, int threads)
    {
        long units = (long)g.Batch * g.KvNumHeads;
        int wanted = (int)Math.Max(1, ((4L * threads) + units - 1) / Math.Max(units, 1));
        return Math.Clamp(Math.Min(wanted, g.KvLength / MinSliceKeys), 1, 1024);
    }

    public static void Run(KernelCall call, SimdTier tier)
    {
        switch (tier)
        {
            case SimdTier.Vector512: Run<Simd512, Vector512<float>>(call); break;
            case SimdTier.Vector256: Run<Simd256, Vector256<float>>(call); break;
            case SimdTier.Vector128: Run<Simd128, Vector128<float>>(call); break;
            default: Run<SimdScalar, float>(call); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per call: optimized from the first call, not after tiering
    private static void Run<TOps, TV>(KernelCall call)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int rows = g.QueryLength * (g.NumHeads / g.KvNumHeads);
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, paddedValue = FlashAttention.RoundUp(valueHeadSize, TOps.Width);
        int slices = Slices(g, call.Threads);
        int block = KeyBlockFor(g);
        int sliceKeys = FlashAttention.RoundUp(FlashAttention.CeilDiv(Math.Max(g.KvLength, 1), slices), block);
        int items = g.Batch * g.KvNumHeads * slices;

        // Per slice and row: running max, sum, open flag and output, merged below.
        float[] state = GC.AllocateUninitializedArray<float>(items * rows * (3 + paddedValue), pinned: true);
        int paddedRows = FlashAttention.RoundUp(rows, PanelGemm.Rows);
        int workspaceFloats = Workspace.Size(rows * headSize, paddedRows * block, Math.Max(headSize, valueHeadSize) * 2, paddedRows, paddedRows * paddedValue, 4);
        fixed (float* statePointer = state)
        {
            float* states = statePointer;
            KernelThreads.For(items, call.Threads, workspaceFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
            {
                int slice = item % slices, bkv = item / slices;
                int start = slice * sliceKeys, end = Math.Min(g.KvLength, start + sliceKeys);
                Slice<TOps, TV>(call, ws, bkv / g.KvNumHeads, bkv % g.KvNumHeads, start, end, rows, paddedValue, block, states + ((long)item * rows * (3 + paddedValue)));
            }, call.Cancellation);

            float[] output = new float[paddedValue];
            fixed (float* outputPointer = output)
            {
                for (int bkv = 0; bkv < g.Batch * g.KvNumHeads; bkv++)
                {
                    for (int r = 0; r < rows; r++)
                    {
                        Merge(states + ((long)bkv * slices * rows * (3 + paddedValue)), slices, rows, r, paddedValue, valueHeadSize, outputPointer);
                        int group = g.NumHeads / g.KvNumHeads;
                        int h = ((bkv % g.KvNumHeads) * group) + (r / g.QueryLength);
                        call.Output.Write(bkv / g.KvNumHeads, h, r % g.QueryLength, outputPointer);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Slice<TOps, TV>(KernelCall call, Workspace ws, int b, int kvHead, int start, int end, int rows, int paddedValue, int block, float* states)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, group = g.NumHeads / g.KvNumHeads;
        int paddedRows = FlashAttention.RoundUp(rows, PanelGemm.Rows);
        float* q = ws.Take(rows * headSize);
        float* s = ws.Take(paddedRows * block);
        float* scratch = ws.Take(Math.Max(headSize, valueHeadSize) * 2);
        float* alpha = ws.Take(paddedRows);
        float* outputs = ws.Take(paddedRows * paddedValue); // running outputs, in registers' panel layout for the P·V product
        float* four = ws.Take(4);
        new Span<float>(outputs, paddedRows * paddedValue).Clear();
        new Span<float>(alpha, paddedRows).Fill(1f);

        // P·V as one panel product per 6 rows when V is float32 in whole registers (no reads past a row) and finite.
        bool gemm = call.Value.IsFloat32 && valueHeadSize % TOps.Width == 0;
        int stateSize = 3 + paddedValue;
        Span<int> lo = stackalloc int[rows], hi = stackalloc int[rows];
        int first = int.MaxValue, last = -1;
        for (int r = 0; r < rows; r++)
        {
            int h = (kvHead * group) + (r / g.QueryLength), i = r % g.QueryLength;
            call.Query.Read(b, h, i, q + (r * headSize), call.Scale);
            call.Range(b, i, out lo[r], out hi[r]);
            float* st = states + ((long)r * stateSize);
            st[0] = float.NegativeInfinity;
            st[1] = 0;
            st[2] = 0;
            if (lo[r] <= hi[r])
            {
                first = Math.Min(first, lo[r]);
                last = Math.Max(last, hi[r]);
            }
        }

        if (last < 0)
        {
            CopyOutputs(states, outputs, rows, paddedValue);
            return;
        }

        if (call.SkipClosed)
        {
            start = Math.Max(start, first / block * block);
            end = Math.Min(end, last + 1);
        }

        // Four rows of D = 4 registers against float32 keys in place: the sixteen Q registers stay loaded across the block.
        bool fourByFour = TOps.WideRegisterFile && call.Key.IsFloat32 && headSize == 4 * TOps.Width && rows % 4 == 0;
        for (int j0 = start; j0 < end; j0 += block)
        {
            int count = Math.Min(block, end - j0), lastKey = j0 + count - 1;
            if (fourByFour)
            {
                for (int r = 0; r < rows; r += 4)
                {
                    Scores4<TOps, TV>(q + (r * headSize), call.Key.InPlace(b, kvHead, j0), call.Key.PositionStride, count, s + (r * block), block, four);
                }
            }

            for (int jj = 0; jj < (fourByFour ? 0 : count); jj++)
            {
                float* key = call.Key.Row(b, kvHead, j0 + jj, scratch);
                int r = 0;
                if (headSize % TOps.Width == 0)
                {
                    // Four rows per pass: each key register loaded once, the four sums reduced in one tree.
                    for (; r + 4 <= rows; r += 4)
                    {
                        Dot4<TOps, TV>(q + (r * headSize), headSize, key, four);
                        for (int i = 0; i < 4; i++) s[((r + i) * block) + jj] = four[i];
                    }
                }

                for (; r < rows; r++)
                {
                    s[(r * block) + jj] = Dot<TOps, TV>(q + (r * headSize), key, headSize);
                }
            }

            for (int r = 0; r < rows; r++)
            {
                float* row = s + (r * block);
                float* st = states + ((long)r * stateSize);
                alpha[r] = 1;
                if (lo[r] > hi[r] || (call.SkipClosed && (lastKey < lo[r] || j0 > hi[r])))
                {
                    new Span<float>(row, count).Clear();
                    continue;
                }

                int h = (kvHead * group) + (r / g.QueryLength);
                if (RowSteps.SoftcapAndBias<TOps, TV>(call, row, count, j0, b, h, r % g.QueryLength, lo[r], hi[r]))
                {
                    st[2] = 1;
                }

                alpha[r] = RowSteps.Update<TOps, TV>(row, count, ref st[0], ref st[1]);
                if (alpha[r] == 0)
                {
                    // The old output's weight underflowed to exactly 0: drop it rather than multiply (0·∞ would be NaN).
                    new Span<float>(outputs + ((long)r * paddedValue), paddedValue).Clear();
                    alpha[r] = 1;
                }
            }

            if (gemm)
            {
                float* values = call.Value.InPlace(b, kvHead, j0);
                int stride = call.Value.PositionStride;
                if (RowSteps.AllFiniteRows<TOps, TV>(values, stride, count, valueHeadSize))
                {
                    // O = diag(alpha)·O + P·V, 6 rows per panel (rows past the last repeat it into the padding)
                    for (int r0 = 0; r0 < rows; r0 += PanelGemm.Rows)
                    {
                        PanelGemm.MultiplyClamped<TOps, TV>(s + ((long)r0 * block), block, Math.Min(PanelGemm.Rows, rows - r0), values, stride, outputs + ((long)r0 * paddedValue), paddedValue, count, valueHeadSize, alpha + r0);
                    }

                    continue;
                }
            }

            for (int r = 0; r < rows; r++)
            {
                if (alpha[r] != 1)
                {
                    float* o = outputs + ((long)r * paddedValue);
                    for (int e = 0; e < paddedValue; e++) o[e] *= alpha[r];
                }
            }

            for (int jj = 0; jj < count; jj++)
            {
                float* value = call.Value.Row(b, kvHead, j0 + jj, scratch + headSize);
                for (int r = 0; r < rows; r++)
                {
                    float p = s[(r * block) + jj];
                    if (p != 0)
                    {
                        // Only keys with a non-zero probability are added, so a masked key's NaN/∞ value cannot leak.
                        Axpy<TOps, TV>(p, value, outputs + ((long)r * paddedValue), valueHeadSize);
                    }
                }
            }
        }

        CopyOutputs(states, outputs, rows, paddedValue);
    }

    private static void CopyOutputs(float* states, float* outputs, int rows, int paddedValue)
    {
        for (int r = 0; r < rows; r++)
        {
            new ReadOnlySpan<float>(outputs + ((long)r * paddedValue), paddedValue).CopyTo(new Span<float>(states + ((long)r * (3 + paddedValue)) + 3, paddedValue));
        }
    }

    /// <summary>Merges the slices of one row: M = max m_c, l = Σ e^(m_c−M)·l_c, o = Σ e^(m_c−M)·o_c, skipping slices whose weight is 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Merge(float* states, int slices, int rows, int r, int paddedValue, int valueHeadSize, float* result)
    {
        int stateSize = 3 + paddedValue;
        bool open = false, poisoned = false;
        float max = float.NegativeInfinity;
        for (int c = 0; c < slices; c++)
        {
            float* st = states + ((((long)c * rows) + r) * stateSize);
            open |= st[2] != 0;
            poisoned |= float.IsNaN(st[0]) || float.IsNaN(st[1]);
            max = Math.Max(max, st[0]);
        }

        new Span<float>(result, valueHeadSize).Clear();
        if (!open)
        {
            return;
        }

        if (poisoned || max == float.NegativeInfinity)
        {
            new Span<float>(result, valueHeadSize).Fill(float.NaN);
            return;
        }

        float sum = 0;
        for (int c = 0; c < slices; c++)
        {
            float* st = states + ((((long)c * rows) + r) * stateSize);
            float weight = st[0] == float.NegativeInfinity ? 0 : VectorMath.Exp<SimdScalar, float>(st[0] - max);
            if (weight == 0)
            {
                continue;
            }

            sum += weight * st[1];
            for (int e = 0; e < valueHeadSize; e++) result[e] += weight * st[3 + e];
        }

        for (int e = 0; e < valueHeadSize; e++) result[e] /= sum;
    }

    /// <summary>
    /// s[r·sStride + k] = q_r · key_k for four rows q (D = 4 registers, rows D apart) and <paramref name="count"/> keys
    /// <paramref name="stride"/> apart: the sixteen Q registers are loaded once, each key's four registers once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Scores4<TOps, TV>(float* q, float* keys, int stride, int count, float* s, int sStride, float* four)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width, n = 4 * w;
        TV q00 = TOps.Load(q), q01 = TOps.Load(q + w), q02 = TOps.Load(q + (2 * w)), q03 = TOps.Load(q + (3 * w));
        TV q10 = TOps.Load(q + n), q11 = TOps.Load(q + n + w), q12 = TOps.Load(q + n + (2 * w)), q13 = TOps.Load(q + n + (3 * w));
        TV q20 = TOps.Load(q + (2 * n)), q21 = TOps.Load(q + (2 * n) + w), q22 = TOps.Load(q + (2 * n) + (2 * w)), q23 = TOps.Load(q + (2 * n) + (3 * w));
        TV q30 = TOps.Load(q + (3 * n)), q31 = TOps.Load(q + (3 * n) + w), q32 = TOps.Load(q + (3 * n) + (2 * w)), q33 = TOps.Load(q + (3 * n) + (3 * w));
        for (int k = 0; k < count; k++)
        {
            float* key = keys + ((long)k * stride);
            TV k0 = TOps.Load(key), k1 = TOps.Load(key + w), k2 = TOps.Load(key + (2 * w)), k3 = TOps.Load(key + (3 * w));
            TV a0 = TOps.MultiplyAdd(q03, k3, TOps.MultiplyAdd(q02, k2, TOps.MultiplyAdd(q01, k1, TOps.Multiply(q00, k0))));
            TV a1 = TOps.MultiplyAdd(q13, k3, TOps.MultiplyAdd(q12, k2, TOps.MultiplyAdd(q11, k1, TOps.Multiply(q10, k0))));
            TV a2 = TOps.MultiplyAdd(q23, k3, TOps.MultiplyAdd(q22, k2, TOps.MultiplyAdd(q21, k1, TOps.Multiply(q20, k0))));
            TV a3 = TOps.MultiplyAdd(q33, k3, TOps.MultiplyAdd(q32, k2, TOps.MultiplyAdd(q31, k1, TOps.Multiply(q30, k0))));
            TOps.SumAcross4(a0, a1, a2, a3, four);
            s[k] = four[0];
            s[sStride + k] = four[1];
            s[(2 * sStride) + k] = four[2];
            s[(3 * sStride) + k] = four[3];
        }
    }

    /// <summary>result[i] = q_i · key for the four rows q_0..q_3 (row stride n); n a multiple of the width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TOps, TV>(float* q, int n, float* key, float* result)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        for (int k = 0; k < n; k += TOps.Width)
        {
            TV x = TOps.Load(key + k);
            a0 = TOps.MultiplyAdd(TOps.Load(q + k), x, a0);
            a1 = TOps.MultiplyAdd(TOps.Load(q + n + k), x, a1);
            a2 = TOps.MultiplyAdd(TOps.Load(q + (2 * n) + k), x, a2);
            a3 = TOps.MultiplyAdd(TOps.Load(q + (3 * n) + k), x, a3);
        }

        TOps.SumAcross4(a0, a1, a2, a3, result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TOps, TV>(float* a, float* b, int n)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int k = 0;
        float total = 0;
        if (n >= TOps.Width)
        {
            TV acc = TOps.Multiply(TOps.Load(a), TOps.Load(b));
            for (k = TOps.Width; k <= n - TOps.Width; k += TOps.Width)
            {
                acc = TOps.MultiplyAdd(TOps.Load(a + k), TOps.Load(b + k), acc);
            }

            total = TOps.SumAcross(acc);
        }

        for (; k < n; k++) total += a[k] * b[k];
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy<TOps, TV>(float a, float* x, float* y, int n)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV va = TOps.Splat(a);
        int k = 0;
        for (; k <= n - TOps.Width; k += TOps.Width)
        {
            TOps.Store(TOps.MultiplyAdd(va, TOps.Load(x + k), TOps.Load(y + k)), y + k);
        }

        for (; k < n; k++) y[k] += a * x[k];
    }
}
