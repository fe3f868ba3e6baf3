using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// The backward pass of attention without the T×S matrix (FlashAttention-2's backward, Dao 2023, Algorithm 2), arranged for a
/// CPU as two passes over tiles, each threaded over independent work items so that no two threads ever add into the same
/// gradient row (no atomics, and the result does not depend on the thread count):
/// <list type="number">
/// <item>per (batch, head, block of <see cref="QueryBlock"/> query rows): a forward sweep over the key tiles with the online
/// softmax gives Y, the log-sum-exp L_i and δ_i = dY_i·Y_i; a second sweep recomputes P = exp(z − L) per tile from the
/// saved L, dP = dY·Vᵀ and dS = P ∘ (dP − δ), and accumulates dQ = scale·dS·K;</item>
/// <item>per (batch, kv head, block of <see cref="KeyBlock"/> keys): every query head of the kv head's group and every query
/// tile recomputes P and dS the same way from the saved L and δ, and accumulates dV = Pᵀ·dY and dK = scale·dSᵀ·Q, so
/// the gradients of the query heads that share a kv head are summed in place.</item>
/// </list>
/// Every product runs on <see cref="PanelGemm"/> (the forward kernels' register-blocked micro-kernels). Memory beyond the
/// outputs: L and δ (B·H·T floats each) and per worker O(tile·(D + Dv + tile)) floats, never O(T·S).
/// </summary>
internal static unsafe class FlashAttentionBackward
{
    /// <summary>
    /// Query rows per work item of the first pass (and per query tile of the second). 64 rows × 64 keys of scores and of dP
    /// take 16 KiB each, so with the packed 64-key tiles of K and V (16 KiB each at D = 64) a tile's working set stays near L1.
    /// </summary>
    public const int QueryBlock = 64;

    /// <summary>Keys per tile of the first pass and per work item of the second: a multiple of every tier's width (16, 8, 4, 1).</summary>
    public const int KeyBlock = 64;

    /// <summary>Runs both passes on the given tier.</summary>
    public static void Run(BackwardCall call, SimdTier tier)
    {
        switch (tier)
        {
            case SimdTier.Vector512: Run<Simd512, Vector512<float>>(call); break;
            case SimdTier.Vector256: Run<Simd256, Vector256<float>>(call); break;
            case SimdTier.Vector128: Run<Simd128, Vector128<float>>(call); break;
            default: Run<SimdScalar, float>(call); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    private static void Run<TOps, TV>(BackwardCall call)
        where TOps : ISimd<TV>
        where TV : struct
    {
        KernelCall k = call.Forward;
        AttentionGeometry g = k.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        (int paddedHead, int paddedValue, int rows6, int keys6, int line) = Sizes<TOps, TV>(g);
        int queryBlocks = FlashAttention.CeilDiv(g.QueryLength, QueryBlock);
        int keyBlocks = FlashAttention.CeilDiv(g.KvLength, KeyBlock);

        // Pass 1: L and δ per block of query rows (and Y, and dQ unless pass 2 computes it). With the forward's Y and L given,
        // only δ = dY·Y is left to compute.
        if (call.Saved && call.Fused)
        {
            KernelThreads.For(g.Batch * g.NumHeads * queryBlocks, k.Threads, Workspace.Size(line, line), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
            {
                int block = item % queryBlocks, bh = item / queryBlocks;
                int i0 = block * QueryBlock;
                SavedRows(call, bh / g.NumHeads, bh % g.NumHeads, i0, Math.Min(QueryBlock, g.QueryLength - i0), ws.Take(line), ws.Take(line));
            }, k.Cancellation);
        }
        else
        {
            int queryFloats = Workspace.Size(
                QueryBlock * headSize, QueryBlock * valueHeadSize,               // the block's Q and dY rows
                headSize * KeyBlock, valueHeadSize * KeyBlock,                   // Kᵀ and Vᵀ of a tile
                KeyBlock * paddedHead, KeyBlock * paddedValue,                   // K and V of a tile, rows padded to whole registers
                rows6 * KeyBlock, rows6 * KeyBlock,                              // scores (then P, then dS) and dP
                rows6 * paddedValue, rows6 * paddedHead,                         // the running output and dQ
                rows6, rows6, rows6, rows6,                                      // m, l, the rescale factors, ones
                QueryBlock, QueryBlock, QueryBlock,                              // lo, hi, open
                line, line);                                                     // a converted row, the softcap slopes
            KernelThreads.For(g.Batch * g.NumHeads * queryBlocks, k.Threads, queryFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
            {
                // Blocks far down the query axis see the most keys under a causal mask: start them first.
                int block = queryBlocks - 1 - (item % queryBlocks), bh = item / queryBlocks;
                int i0 = block * QueryBlock;
                QueryRows<TOps, TV>(call, ws, bh / g.NumHeads, bh % g.NumHeads, i0, Math.Min(QueryBlock, g.QueryLength - i0));
            }, k.Cancellation);
        }

        if (call.ForwardOnly)
        {
            return;
        }

        // Pass 2: dK and dV per block of keys, summed over the query heads of the kv head's group; in the fused arrangement
        // one item is a whole (batch, kv head) and dQ is accumulated on the way.
        int group = g.NumHeads / g.KvNumHeads;
        int keyFloats = Workspace.Size(
            headSize * KeyBlock, valueHeadSize * KeyBlock,                   // Kᵀ and Vᵀ of the block
            QueryBlock * paddedHead, QueryBlock * paddedValue,               // Q and dY rows of a query tile, padded
            rows6 * KeyBlock, rows6 * KeyBlock,                              // scores (then dS) and dP (then P)
            keys6 * paddedHead, keys6 * paddedValue,                         // dK and dV
            line, line,
            call.Fused ? KeyBlock * paddedHead : 0,                          // K rows of the block, padded (for dQ += dS·K)
            call.Fused ? rows6 : 0,                                          // ones
            call.Fused ? group * queryBlocks * rows6 * paddedHead : 0);      // dQ of the group's heads, query tile by tile
        if (call.Fused)
        {
            KernelThreads.For(g.Batch * g.KvNumHeads, k.Threads, keyFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
                KeyHead<TOps, TV>(call, ws, item / g.KvNumHeads, item % g.KvNumHeads), k.Cancellation);

            // A fused item gives up between key blocks once the token fires; the call then ends here.
            k.Cancellation.ThrowIfCancellationRequested();
            return;
        }

        KernelThreads.For(g.Batch * g.KvNumHeads * keyBlocks, k.Threads, keyFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
        {
            int block = item % keyBlocks, bkv = item / keyBlocks;
            int j0 = block * KeyBlock;
            KeyRows<TOps, TV>(call, ws, bkv / g.KvNumHeads, bkv % g.KvNumHeads, j0, Math.Min(KeyBlock, g.KvLength - j0));
        }, k.Cancellation);
    }

    /// <summary>
    /// Whether pass 2 should run fused (one work item per (batch, kv head), dQ accumulated there, pass 1 without its dQ sweep:
    /// 5 of the backward's T·S·D products instead of 7, plus the forward sweep's 2 when Y and L are not given) rather than
    /// split by key blocks (every item independent, dQ in pass 1). Fused needs enough items to keep the machine's cores
    /// busy: at least two per core. The choice depends on the shapes and the machine only, never on the thread count asked
    /// for, so a call gives the same bits at any thread count.
    /// </summary>
    public static bool ChooseFused(AttentionGeometry g) =>
        (long)g.Batch * g.KvNumHeads >= 2L * Environment.ProcessorCount
        && (long)(g.NumHeads / g.KvNumHeads) * FlashAttention.CeilDiv(g.QueryLength, QueryBlock) * FlashAttention.RoundUp(QueryBlock, PanelGemm.Rows)
            * FlashAttention.RoundUp(g.HeadSize, 16) <= MaxFusedQueryFloats;

    /// <summary>The most floats a fused item's dQ accumulator may take (16 MiB per worker); longer queries run split.</summary>
    private const long MaxFusedQueryFloats = 1L << 22;

    /// <summary>
    /// The sizes of a worker's tiles: D and Dv rounded up to whole registers, the query and key blocks rounded up to whole panels
    /// of 6 rows (the products write that far), and one scratch line.
    /// </summary>
    private static (int PaddedHead, int PaddedValue, int Rows6, int Keys6, int Line) Sizes<TOps, TV>(AttentionGeometry g)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int paddedHead = FlashAttention.RoundUp(g.HeadSize, TOps.Width), paddedValue = FlashAttention.RoundUp(g.ValueHeadSize, TOps.Width);
        return (paddedHead, paddedValue, FlashAttention.RoundUp(QueryBlock, PanelGemm.Rows), FlashAttention.RoundUp(KeyBlock, PanelGemm.Rows),
            Math.Max(paddedHead, paddedValue) + KeyBlock);
    }

    /// <summary>Pass 1 for query rows [i0, i0 + rows) of (b, h): Y, L and δ of each row, then dQ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void QueryRows<TOps, TV>(BackwardCall call, Workspace ws, int b, int h, int i0, int rows)
        where TOps : ISimd<TV>
        where TV : struct
    {
        KernelCall k = call.Forward;
        AttentionGeometry g = k.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        (int paddedHead, int paddedValue, int rows6, _, int line) = Sizes<TOps, TV>(g);
        int kvHead = g.KvHeadOf(h);

        float* q = ws.Take(QueryBlock * headSize);
        float* dy = ws.Take(QueryBlock * valueHeadSize);
        float* kT = ws.Take(headSize * KeyBlock);
        float* vT = ws.Take(valueHeadSize * KeyBlock);
        float* kRows = ws.Take(KeyBlock * paddedHead);
        float* vRows = ws.Take(KeyBlock * paddedValue);
        float* s = ws.Take(rows6 * KeyBlock);
        float* dp = ws.Take(rows6 * KeyBlock);
        float* o = ws.Take(rows6 * paddedValue);
        float* dq = ws.Take(rows6 * paddedHead);
        float* m = ws.Take(rows6);
        float* l = ws.Take(rows6);
        float* alpha = ws.Take(rows6);
        float* ones = ws.Take(rows6);
        int* lo = (int*)ws.Take(QueryBlock);
        int* hi = (int*)ws.Take(QueryBlock);
        int* open = (int*)ws.Take(QueryBlock);
        float* scratch = ws.Take(line);
        float* slope = ws.Take(line);

        int minLo = int.MaxValue, maxHi = -1;
        for (int r = 0; r < rows; r++)
        {
            k.Range(b, i0 + r, out lo[r], out hi[r]);
            open[r] = 0;
            if (lo[r] <= hi[r])
            {
                minLo = Math.Min(minLo, lo[r]);
                maxHi = Math.Max(maxHi, hi[r]);
            }
        }

        for (int r = 0; r < rows6; r++)
        {
            m[r] = float.NegativeInfinity;
            l[r] = 0;
            ones[r] = 1;
        }

        new Span<float>(o, rows6 * paddedValue).Clear();
        for (int r = 0; r < rows; r++)
        {
            call.Forward.Query.Read(b, h, i0 + r, q + ((long)r * headSize), 1f);
            call.GradOutput?.Read(b, h, i0 + r, dy + ((long)r * valueHeadSize), 1f);
        }

        // Sweep 1, the forward: online softmax over the tiles of keys some row of the block may see. Given Y and L, only δ.
        int at = ((b * g.NumHeads) + h) * g.QueryLength;
        if (call.Saved)
        {
            SavedRows(call, b, h, i0, rows, scratch, slope);
        }
        else
        {
            for (int j0 = maxHi < 0 ? int.MaxValue : minLo; j0 <= maxHi; j0 += KeyBlock)
            {
                int count = Math.Min(KeyBlock, maxHi + 1 - j0);
                PackTransposed<TOps, TV>(k.Key, b, kvHead, j0, count, headSize, kT, scratch);
                float* values = Rows(k.Value, b, kvHead, j0, count, valueHeadSize, paddedValue, vRows, out int valueStride);
                PanelGemm.MultiplyClamped<TOps, TV>(q, headSize, rows, kT, KeyBlock, s, KeyBlock, headSize, KeyBlock, null);
                for (int r = 0; r < rows6; r++)
                {
                    float* row = s + ((long)r * KeyBlock);
                    if (r >= rows || lo[r] > hi[r])
                    {
                        new Span<float>(row, KeyBlock).Clear();
                        alpha[r] = 1;
                        continue;
                    }

                    if (Scores<TOps, TV>(k, row, slope, j0, b, h, i0 + r, lo[r], hi[r]))
                    {
                        open[r] = 1;
                    }

                    alpha[r] = RowSteps.Update<TOps, TV>(row, KeyBlock, ref m[r], ref l[r]);
                }

                PanelGemm.MultiplyClamped<TOps, TV>(s, KeyBlock, rows, values, valueStride, o, paddedValue, count, paddedValue, alpha);
            }

            // Each row's Y, L = m + ln l and δ = dY·Y; a closed row gets Y = 0, L = +∞ (so every P recomputed from it is 0) and δ = 0.
            for (int r = 0; r < rows; r++)
            {
                float* y = o + ((long)r * paddedValue);
                bool isOpen = k.Bias.HasMask ? open[r] != 0 : lo[r] <= hi[r];
                float logSumExp = float.PositiveInfinity, dot = 0;
                if (!isOpen)
                {
                    new Span<float>(y, valueHeadSize).Clear();
                }
                else if (m[r] == float.NegativeInfinity || float.IsNaN(m[r]))
                {
                    new Span<float>(y, valueHeadSize).Fill(float.NaN);
                }
                else
                {
                    float inverse = 1f / l[r];
                    float* dyRow = dy + ((long)r * valueHeadSize);
                    for (int e = 0; e < valueHeadSize; e++)
                    {
                        y[e] *= inverse;
                        dot += dyRow[e] * y[e];
                    }

                    dot = call.ForwardOnly ? 0 : dot;
                    logSumExp = m[r] + MathF.Log(l[r]);
                }

                call.LogSumExp[at + i0 + r] = logSumExp;
                call.Delta[at + i0 + r] = dot;
                k.Output.Write(b, h, i0 + r, y);
            }

            if (call.ForwardOnly || call.Fused)
            {
                return;
            }
        }

        // Sweep 2: P from the saved L, dS = P ∘ (dP − δ) ∘ dt/ds, dQ += dS·K.
        bool first = true;
        for (int j0 = maxHi < 0 ? int.MaxValue : minLo; j0 <= maxHi; j0 += KeyBlock)
        {
            int count = Math.Min(KeyBlock, maxHi + 1 - j0);
            PackTransposed<TOps, TV>(k.Key, b, kvHead, j0, count, headSize, kT, scratch);
            PackTransposed<TOps, TV>(k.Value, b, kvHead, j0, count, valueHeadSize, vT, scratch);
            float* keys = Rows(k.Key, b, kvHead, j0, count, headSize, paddedHead, kRows, out int keyStride);
            PanelGemm.MultiplyClamped<TOps, TV>(q, headSize, rows, kT, KeyBlock, s, KeyBlock, headSize, KeyBlock, null);
            PanelGemm.MultiplyClamped<TOps, TV>(dy, valueHeadSize, rows, vT, KeyBlock, dp, KeyBlock, valueHeadSize, KeyBlock, null);
            for (int r = 0; r < rows; r++)
            {
                float* row = s + ((long)r * KeyBlock);
                float logSumExp = call.LogSumExp[at + i0 + r];
                if (logSumExp == float.PositiveInfinity)
                {
                    new Span<float>(row, KeyBlock).Clear();
                    continue;
                }

                Scores<TOps, TV>(k, row, slope, j0, b, h, i0 + r, lo[r], hi[r]);
                Gradient<TOps, TV>(row, dp + ((long)r * KeyBlock), slope, logSumExp, call.Delta[at + i0 + r], k.Softcap > 0, keepProbabilities: false);
            }

            PanelGemm.MultiplyClamped<TOps, TV>(s, KeyBlock, rows, keys, keyStride, dq, paddedHead, count, paddedHead, first ? null : ones);
            first = false;
        }

        float scale = k.Scale;
        for (int r = 0; r < rows; r++)
        {
            float* row = dq + ((long)r * paddedHead);
            if (first || call.LogSumExp[at + i0 + r] == float.PositiveInfinity)
            {
                new Span<float>(row, headSize).Clear();
            }
            else
            {
                for (int d = 0; d < headSize; d++) row[d] *= scale;
            }

            call.GradQuery.Write(b, h, i0 + r, row);
        }
    }

    /// <summary>
    /// Pass 1 when the forward's Y and L are given: δ = dY·Y for query rows [i0, i0 + rows) of (b, h) (0 for a closed row, whose L
    /// is +∞).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void SavedRows(BackwardCall call, int b, int h, int i0, int rows, float* yScratch, float* dyScratch)
    {
        KernelCall k = call.Forward;
        AttentionGeometry g = k.Geometry;
        int at = ((b * g.NumHeads) + h) * g.QueryLength;
        for (int r = 0; r < rows; r++)
        {
            float dot = 0;
            if (call.LogSumExp[at + i0 + r] != float.PositiveInfinity)
            {
                float* y = k.Output.Row(b, h, i0 + r, yScratch), dy = call.GradOutput!.Row(b, h, i0 + r, dyScratch);
                for (int e = 0; e < g.ValueHeadSize; e++) dot += dy[e] * y[e];
            }

            call.Delta[at + i0 + r] = dot;
        }
    }

    /// <summary>Pass 2 for keys [j0, j0 + count) of (b, kvHead): dK and dV summed over the group's query heads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void KeyRows<TOps, TV>(BackwardCall call, Workspace ws, int b, int kvHead, int j0, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        var tiles = new KeyTiles<TOps, TV>(call.Forward.Geometry, ws, fused: false);
        KeyBlockOf(call, tiles, b, kvHead, j0, count, dqTiles: null);
    }

    /// <summary>
    /// Fused pass 2 for (b, kvHead): every block of keys in turn as in <see cref="KeyRows{TOps, TV}"/>, and dQ += dS·K of each
    /// (query head, query tile) into the item's accumulator on the way; then dQ scaled and written. Stops between key blocks
    /// once the call's token fires (the caller throws).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void KeyHead<TOps, TV>(BackwardCall call, Workspace ws, int b, int kvHead)
        where TOps : ISimd<TV>
        where TV : struct
    {
        KernelCall k = call.Forward;
        AttentionGeometry g = k.Geometry;
        var tiles = new KeyTiles<TOps, TV>(g, ws, fused: true);
        int group = g.NumHeads / g.KvNumHeads, queryBlocks = FlashAttention.CeilDiv(g.QueryLength, QueryBlock);
        long tileFloats = (long)tiles.Rows6 * tiles.PaddedHead;
        float* dqTiles = ws.Take((int)(group * queryBlocks * tileFloats));
        new Span<float>(dqTiles, (int)(group * queryBlocks * tileFloats)).Clear();
        for (int r = 0; r < tiles.Rows6; r++) tiles.Ones[r] = 1;

        for (int j0 = 0; j0 < g.KvLength; j0 += KeyBlock)
        {
            if (k.Cancellation.IsCancellationRequested)
            {
                return;
            }

            KeyBlockOf(call, tiles, b, kvHead, j0, Math.Min(KeyBlock, g.KvLength - j0), dqTiles);
        }

        float scale = k.Scale;
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            int at = ((b * g.NumHeads) + h) * g.QueryLength;
            for (int i = 0; i < g.QueryLength; i++)
            {
                float* row = dqTiles + ((((h - (kvHead * group)) * queryBlocks) + (i / QueryBlock)) * tileFloats) + ((long)(i % QueryBlock) * tiles.PaddedHead);
                if (call.LogSumExp[at + i] == float.PositiveInfinity)
                {
                    new Span<float>(row, g.HeadSize).Clear();
                }
                else
                {
                    for (int d = 0; d < g.HeadSize; d++) row[d] *= scale;
                }

                call.GradQuery.Write(b, h, i, row);
            }
        }
    }

    /// <summary>
    /// Keys [j0, j0 + count) of (b, kvHead): for every query head of the group and every query tile with an open row that meets
    /// the block, S and dP recomputed, P and dS from the saved L and δ, dV += Pᵀ·dY and dK += dSᵀ·Q, and, when
    /// <paramref name="dqTiles"/> is given (the fused pass), dQ += dS·K into the tile's accumulator there; dK (scaled) and dV written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void KeyBlockOf<TOps, TV>(BackwardCall call, in KeyTiles<TOps, TV> t, int b, int kvHead, int j0, int count, float* dqTiles)
        where TOps : ISimd<TV>
        where TV : struct
    {
        KernelCall k = call.Forward;
        AttentionGeometry g = k.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, paddedHead = t.PaddedHead, paddedValue = t.PaddedValue;
        int last = j0 + count - 1, queryBlocks = FlashAttention.CeilDiv(g.QueryLength, QueryBlock);
        long tileFloats = (long)t.Rows6 * paddedHead;
        float* kT = t.KT, vT = t.VT, q = t.Q, dy = t.Dy, s = t.S, dp = t.Dp, dk = t.Dk, dv = t.Dv;

        PackTransposed<TOps, TV>(k.Key, b, kvHead, j0, count, headSize, kT, t.Scratch);
        PackTransposed<TOps, TV>(k.Value, b, kvHead, j0, count, valueHeadSize, vT, t.Scratch);
        int keyStride = 0;
        float* keys = dqTiles is null ? null : Rows(k.Key, b, kvHead, j0, count, headSize, paddedHead, t.KRows, out keyStride);
        new Span<float>(dk, t.Keys6 * paddedHead).Clear();
        new Span<float>(dv, t.Keys6 * paddedValue).Clear();

        int group = g.NumHeads / g.KvNumHeads;
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            int at = ((b * g.NumHeads) + h) * g.QueryLength;
            for (int i0 = 0; i0 < g.QueryLength; i0 += QueryBlock)
            {
                int rows = Math.Min(QueryBlock, g.QueryLength - i0);

                // Only query tiles with some open row whose keys meet this block (a causal mask skips about half).
                bool meets = false;
                for (int r = 0; r < rows && !meets; r++)
                {
                    k.Range(b, i0 + r, out int lo, out int hi);
                    meets = lo <= hi && lo <= last && hi >= j0 && call.LogSumExp[at + i0 + r] != float.PositiveInfinity;
                }

                if (!meets)
                {
                    continue;
                }

                float* queries = Rows(k.Query, b, h, i0, rows, headSize, paddedHead, q, out int queryStride);
                float* grads = Rows(call.GradOutput!, b, h, i0, rows, valueHeadSize, paddedValue, dy, out int gradStride);
                PanelGemm.MultiplyClamped<TOps, TV>(queries, queryStride, rows, kT, KeyBlock, s, KeyBlock, headSize, KeyBlock, null);
                PanelGemm.MultiplyClamped<TOps, TV>(grads, gradStride, rows, vT, KeyBlock, dp, KeyBlock, valueHeadSize, KeyBlock, null);
                for (int r = 0; r < rows; r++)
                {
                    float* row = s + ((long)r * KeyBlock), dpRow = dp + ((long)r * KeyBlock);
                    float logSumExp = call.LogSumExp[at + i0 + r];
                    k.Range(b, i0 + r, out int lo, out int hi);
                    if (logSumExp == float.PositiveInfinity || lo > hi || lo > last || hi < j0)
                    {
                        new Span<float>(row, KeyBlock).Clear();
                        new Span<float>(dpRow, KeyBlock).Clear();
                        continue;
                    }

                    Scores<TOps, TV>(k, row, t.Slope, j0, b, h, i0 + r, lo, hi);
                    Gradient<TOps, TV>(row, dpRow, t.Slope, logSumExp, call.Delta[at + i0 + r], k.Softcap > 0, keepProbabilities: true);
                }

                // dV += Pᵀ·dY and dK += dSᵀ·Q (P and dS stored query × key, read as their transposes); fused: dQ += dS·K.
                PanelGemm.MultiplyTransposedA<TOps, TV>(dp, KeyBlock, count, grads, gradStride, dv, paddedValue, rows, paddedValue, null);
                PanelGemm.MultiplyTransposedA<TOps, TV>(s, KeyBlock, count, queries, queryStride, dk, paddedHead, rows, paddedHead, null);
                if (dqTiles is not null)
                {
                    float* dq = dqTiles + ((((h - (kvHead * group)) * queryBlocks) + (i0 / QueryBlock)) * tileFloats);
                    PanelGemm.MultiplyClamped<TOps, TV>(s, KeyBlock, rows, keys, keyStride, dq, paddedHead, count, paddedHead, t.Ones);
                }
            }
        }

        float scale = k.Scale;
        for (int jj = 0; jj < count; jj++)
        {
            float* row = dk + ((long)jj * paddedHead);
            for (int d = 0; d < headSize; d++) row[d] *= scale;
            call.GradKey.Write(b, kvHead, j0 + jj, row);
            call.GradValue.Write(b, kvHead, j0 + jj, dv + ((long)jj * paddedValue));
        }
    }

    /// <summary>
    /// One row of <see cref="KeyBlock"/> raw products q·k (key j0 first) into scores z = softcap(scale·q·k) + bias, and the
    /// softcap's slope dt/ds = 1 − tanh² into <paramref name="slope"/> when there is a softcap. Keys past the tile's end lie
    /// beyond every row's interval, so the bias masks them. Returns true when some key's bias is not −∞.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static bool Scores<TOps, TV>(KernelCall call, float* row, float* slope, int j0, int b, int h, int i, int lo, int hi)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV scale = TOps.Splat(call.Scale);
        if (call.Softcap > 0)
        {
            TV cap = TOps.Splat(call.Softcap), inverse = TOps.Splat(1f / call.Softcap), one = TOps.Splat(1f);
            for (int k = 0; k < KeyBlock; k += TOps.Width)
            {
                TV tanh = VectorMath.Tanh<TOps, TV>(TOps.Multiply(TOps.Multiply(TOps.Load(row + k), scale), inverse));
                TOps.Store(TOps.Subtract(one, TOps.Multiply(tanh, tanh)), slope + k);
                TOps.Store(TOps.Multiply(cap, tanh), row + k);
            }
        }
        else
        {
            for (int k = 0; k < KeyBlock; k += TOps.Width)
            {
                TOps.Store(TOps.Multiply(TOps.Load(row + k), scale), row + k);
            }
        }

        return RowSteps.Bias<TOps, TV>(call, row, KeyBlock, j0, b, h, i, lo, hi);
    }

    /// <summary>
    /// P = exp(z − L) and dS = P ∘ (dP − δ) (∘ the softcap's slope) for one row: dS replaces z; P replaces dP when
    /// <paramref name="keepProbabilities"/>. A masked key (z = −∞) gets P = 0 and dS = 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Gradient<TOps, TV>(float* row, float* dp, float* slope, float logSumExp, float delta, bool softcap, bool keepProbabilities)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV l = TOps.Splat(logSumExp), d = TOps.Splat(delta);
        for (int k = 0; k < KeyBlock; k += TOps.Width)
        {
            TV p = VectorMath.Exp<TOps, TV>(TOps.Subtract(TOps.Load(row + k), l));
            TV ds = TOps.Multiply(p, TOps.Subtract(TOps.Load(dp + k), d));
            if (softcap)
            {
                ds = TOps.Multiply(ds, TOps.Load(slope + k));
            }

            TOps.Store(ds, row + k);
            if (keepProbabilities)
            {
                TOps.Store(p, dp + k);
            }
        }
    }

    /// <summary>
    /// dst[d·KeyBlock + jj] = rows(b, head, j0 + jj)[d] for jj &lt; count; columns count..KeyBlock zero. Float32 rows are
    /// transposed in place in square register blocks (as the forward transposes Q), the rest one element at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void PackTransposed<TOps, TV>(TensorRows rows, int b, int head, int j0, int count, int size, float* destination, float* scratch)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width, jj = 0;
        if (rows.IsFloat32 && w > 1)
        {
            float* first = rows.InPlace(b, head, j0);
            int stride = rows.PositionStride;
            for (; jj <= count - w; jj += w)
            {
                float* source = first + ((long)jj * stride);
                int d = 0;
                for (; d <= size - w; d += w)
                {
                    TOps.TransposeScaled(source + d, stride, destination + ((long)d * KeyBlock) + jj, KeyBlock, 1f);
                }

                for (; d < size; d++)
                {
                    for (int r = 0; r < w; r++) destination[((long)d * KeyBlock) + jj + r] = source[((long)r * stride) + d];
                }
            }
        }

        for (; jj < count; jj++)
        {
            float* source = rows.Row(b, head, j0 + jj, scratch);
            for (int d = 0; d < size; d++) destination[((long)d * KeyBlock) + jj] = source[d];
        }

        if (count < KeyBlock)
        {
            for (int d = 0; d < size; d++) new Span<float>(destination + ((long)d * KeyBlock) + count, KeyBlock - count).Clear();
        }
    }

    /// <summary>
    /// Rows [j0, j0 + count) of (b, head) as a matrix whose rows hold whole registers (<paramref name="padded"/> floats, the
    /// ones past <paramref name="size"/> zero): in place when float32 and size = padded (stride = the tensor's row stride),
    /// else copied into <paramref name="buffer"/> (stride = padded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static float* Rows(TensorRows rows, int b, int head, int j0, int count, int size, int padded, float* buffer, out int stride)
    {
        if (rows.IsFloat32 && size == padded)
        {
            stride = rows.PositionStride;
            return rows.InPlace(b, head, j0);
        }

        for (int jj = 0; jj < count; jj++)
        {
            float* target = buffer + ((long)jj * padded);
            rows.Read(b, head, j0 + jj, target, 1f);
            new Span<float>(target + size, padded - size).Clear();
        }

        stride = padded;
        return buffer;
    }
}

/// <summary>A pass-2 worker's tiles, taken from its workspace in the order <see cref="FlashAttentionBackward"/> sizes them.</summary>
internal readonly unsafe struct KeyTiles<TOps, TV>
    where TOps : ISimd<TV>
    where TV : struct
{
    public KeyTiles(AttentionGeometry g, Workspace ws, bool fused)
    {
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        PaddedHead = FlashAttention.RoundUp(headSize, TOps.Width);
        PaddedValue = FlashAttention.RoundUp(valueHeadSize, TOps.Width);
        Rows6 = FlashAttention.RoundUp(FlashAttentionBackward.QueryBlock, PanelGemm.Rows);
        Keys6 = FlashAttention.RoundUp(FlashAttentionBackward.KeyBlock, PanelGemm.Rows);
        int line = Math.Max(PaddedHead, PaddedValue) + FlashAttentionBackward.KeyBlock;
        KT = ws.Take(headSize * FlashAttentionBackward.KeyBlock);
        VT = ws.Take(valueHeadSize * FlashAttentionBackward.KeyBlock);
        Q = ws.Take(FlashAttentionBackward.QueryBlock * PaddedHead);
        Dy = ws.Take(FlashAttentionBackward.QueryBlock * PaddedValue);
        S = ws.Take(Rows6 * FlashAttentionBackward.KeyBlock);
        Dp = ws.Take(Rows6 * FlashAttentionBackward.KeyBlock);
        Dk = ws.Take(Keys6 * PaddedHead);
        Dv = ws.Take(Keys6 * PaddedValue);
        Scratch = ws.Take(line);
        Slope = ws.Take(line);
        KRows = fused ? ws.Take(FlashAttentionBackward.KeyBlock * PaddedHead) : null;
        Ones = fused ? ws.Take(Rows6) : null;
    }

    public int PaddedHead { get; }

    public int PaddedValue { get; }

    public int Rows6 { get; }

    public int Keys6 { get; }

    public float* KT { get; }

    public float* VT { get; }

    public float* Q { get; }

    public float* Dy { get; }

    public float* S { get; }

    public float* Dp { get; }

    public float* Dk { get; }

    public float* Dv { get; }

    public float* Scratch { get; }

    public float* Slope { get; }

    public float* KRows { get; }

    public float* Ones { get; }
}

/// <summary>
/// Everything the backward kernel needs for one call: the forward's call (Q, K, V, Y rows, bias, threads) plus dY, the gradients
/// and L, δ. Without dY (<see cref="ForwardOnly"/>) only the forward sweep runs and gives Y and L.
/// </summary>
internal sealed class BackwardCall : IDisposable
{
    public BackwardCall(KernelCall forward, TensorRows? gradOutput, TensorRows? gradQuery, TensorRows? gradKey, TensorRows? gradValue, float[]? savedLogSumExp = null)
    {
        Forward = forward;
        GradOutput = gradOutput;
        GradQuery = gradQuery!;
        GradKey = gradKey!;
        GradValue = gradValue!;
        AttentionGeometry g = forward.Geometry;
        Saved = savedLogSumExp is not null;
        LogSumExp = savedLogSumExp ?? new float[g.Batch * g.NumHeads * g.QueryLength];
        Delta = new float[g.Batch * g.NumHeads * g.QueryLength];
        Fused = !ForwardOnly && FlashAttentionBackward.ChooseFused(g);
    }

    public KernelCall Forward { get; }

    /// <summary>dY rows (b, h, i); null for a forward sweep alone.</summary>
    public TensorRows? GradOutput { get; }

    /// <summary>Only Y and L are wanted (no dY, no gradients).</summary>
    public bool ForwardOnly => GradOutput is null;

    /// <summary>Y (the forward's output rows) and L were given: the forward sweep does not run.</summary>
    public bool Saved { get; }

    /// <summary>Pass 2 runs per (batch, kv head) and accumulates dQ (see <see cref="FlashAttentionBackward.ChooseFused"/>).</summary>
    public bool Fused { get; set; }

    /// <summary>dQ rows (b, h, i).</summary>
    public TensorRows GradQuery { get; }

    /// <summary>dK rows (b, kvHead, j).</summary>
    public TensorRows GradKey { get; }

    /// <summary>dV rows (b, kvHead, j).</summary>
    public TensorRows GradValue { get; }

    /// <summary>L per (b, h, i): the log-sum-exp of the row's scores; +∞ for a closed row.</summary>
    public float[] LogSumExp { get; }

    /// <summary>δ per (b, h, i) = dY·Y of the row.</summary>
    public float[] Delta { get; }

    public void Dispose()
    {
        Forward.Dispose();
        GradOutput?.Dispose();
        GradQuery?.Dispose();
        GradKey?.Dispose();
        GradValue?.Dispose();
    }
}
