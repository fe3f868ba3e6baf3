using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Heed.Kernels;

/// <summary>
/// Fused attention without the T×S matrix (FlashAttention-2, Dao 2023, arranged for a CPU with the scores transposed): each
/// work item takes one (batch, head) and a block of query rows, one per vector lane, walks the keys in tiles of
/// <see cref="KeyBlock"/> with K and V read in place, computes Sᵀ = K·Qᵀ and Oᵀ += Vᵀ·Pᵀ with <see cref="PanelGemm"/>, and runs the
/// online softmax down the columns (running max, sum and rescale factors are vectors across rows). Memory: per worker
/// O(lanes·(D + Dv + tile)) floats, never O(T·S). Also holds the key/value tile packing the materialized kernel uses.
/// </summary>
internal static unsafe class FlashAttention
{
    /// <summary>
    /// Keys per packed tile of the materialized kernel: the packed Kᵀ (D × 64) and V (64 × Dv) tiles take 16 KiB each at
    /// D = Dv = 64, so both stay in a 48 KiB L1 while every panel of the chunk reuses them.
    /// </summary>
    public const int KeyTile = 64;

    /// <summary>Keys per tile of the flash kernel (a multiple of the 6-row panel): Sᵀ takes 24 KiB at 64 lanes.</summary>
    public const int KeyBlock = 96;

    /// <summary>Most keys per tile: a run of keys up to this long is one tile (T = S = 128 in one tile, not two of 64).</summary>
    public const int MaxTile = 144;

    /// <summary>Most query rows per work item of the materialized kernel: the packing of each key tile is shared by this many rows.</summary>
    public const int MaxChunkRows = 192;

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

    /// <summary>Rows per work item of the materialized kernel: as many as <see cref="MaxChunkRows"/>, fewer when that would leave threads idle.</summary>
    public static int ChunkRows(AttentionGeometry g, int threads)
    {
        int rows = Math.Min(RoundUp(Math.Max(g.QueryLength, 1), PanelGemm.Rows), MaxChunkRows);
        while (rows > 4 * PanelGemm.Rows && (long)g.Batch * g.NumHeads * CeilDiv(g.QueryLength, rows) < 4L * threads)
        {
            rows = RoundUp(rows / 2, PanelGemm.Rows);
        }

        return rows;
    }

    /// <summary>Query rows per work item: one per vector lane of the score tiles, <see cref="LaneVectors"/> registers wide (fewer for short T).</summary>
    public static int LaneRows<TOps, TV>(int queryLength)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        return Math.Min(LaneVectors(TOps.WideRegisterFile) * w, RoundUp(Math.Max(queryLength, 1), w));
    }

    /// <summary>Registers of query rows per work item: the panel GEMM's width (4 on 32-register tiers, 2 on 16).</summary>
    public static int LaneVectors(bool wideRegisterFile) => wideRegisterFile ? 4 : 2;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static void Run<TOps, TV>(KernelCall call)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        int lanes = LaneRows<TOps, TV>(g.QueryLength);
        int blocks = CeilDiv(g.QueryLength, lanes);
        int items = g.Batch * g.NumHeads * blocks;
        int workspaceFloats = Workspace.Size(
            headSize * lanes,                                              // Qᵀ, scaled
            RoundUp(valueHeadSize, PanelGemm.Rows) * lanes,                // Oᵀ, the running outputs
            (MaxTile + PanelGemm.Rows) * lanes,                           // Sᵀ, then Pᵀ (a staircase product may write 5 rows past)
            lanes, lanes, lanes, lanes, lanes, lanes, lanes, lanes,        // m, l, alpha, open, lo, hi and their tile-relative copies
            lanes, lanes,                                                  // each register's key range in the tile
            lanes,                                                         // the tile's column maxima from the Q·Kᵀ product
            call.Key.IsFloat32 ? 0 : MaxTile * headSize,                  // converted K rows
            call.Value.IsFloat32 ? 0 : MaxTile * valueHeadSize,           // converted V rows
            MaxTile + Math.Max(headSize, valueHeadSize) + valueHeadSize); // one row of scores, a Q/O row, the final row

        KernelThreads.For(items, call.Threads, workspaceFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
        {
            // Blocks far down the query axis see the most keys under a causal mask: start them first.
            int block = blocks - 1 - (item % blocks);
            int bh = item / blocks;
            int i0 = block * lanes;
            if (item + 1 < items)
            {
                // The item a thread most likely takes next (Parallel.For hands out runs of consecutive items): its Q and Y rows
                // are fetched into the cache while this one computes, so its transposes do not wait on memory.
                int nextBlock = blocks - 1 - ((item + 1) % blocks), nextBh = (item + 1) / blocks, nextI0 = nextBlock * lanes;
                int nextRows = Math.Min(lanes, g.QueryLength - nextI0);
                Prefetch(call.Query, nextBh / g.NumHeads, nextBh % g.NumHeads, nextI0, nextRows, headSize);
                Prefetch(call.Output, nextBh / g.NumHeads, nextBh % g.NumHeads, nextI0, nextRows, valueHeadSize);
            }

            Block<TOps, TV>(call, ws, bh / g.NumHeads, bh % g.NumHeads, i0, Math.Min(lanes, g.QueryLength - i0), lanes);
        }, call.Cancellation);
    }

    /// <summary>
    /// The block's probabilities into the call's capture buffer, when its keys took one tile computed whole (no staircase): then
    /// the tile still holds p = 2^(s − m) of every open row and l is final, so P = p / l, widened to float64 and each row scaled
    /// by the inverse of its float64 sum; closed rows, and keys outside the tile, stay 0. Otherwise, or when some open row's l is
    /// not a positive finite number, the block counts a miss and the capture takes a pass of its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // once per block of a traced call: no tier-0 code
    private static void CaptureProbabilities(KernelCall call, int b, int h, int i0, int rows, int lanes, int* lo, int* hi, float* l, float* sT, int tiles, int firstTile, int firstCount, bool staircase)
    {
        AttentionGeometry g = call.Geometry;
        bool ok = tiles <= 1 && !staircase;
        for (int r = 0; r < rows && ok; r++)
        {
            ok = lo[r] > hi[r] || (tiles == 1 && float.IsFinite(l[r]) && l[r] > 0);
        }

        if (!ok)
        {
            Interlocked.Increment(ref call.CaptureMisses);
            return;
        }

        // Each open row: P = p / l in float32, widened, then (as KernelCapture.Normalized does in a pass of its own) scaled by the
        // inverse of its float64 sum, or left as it is when that sum is 0 or exactly 1 (p · 1 = p, so the scale may be 1 then).
        // Sᵀ holds each key's rows side by side, so the sums run key by key across the rows, eight at a time: each row's float64
        // additions keep the order of a row-by-row sum, and the rows' chains overlap instead of each waiting on itself.
        double* scale = stackalloc double[lanes];
        float* inverse = stackalloc float[lanes];
        for (int r = 0; r < lanes; r++)
        {
            scale[r] = 0;
            inverse[r] = r >= rows || lo[r] > hi[r] ? 0 : 1 / l[r];
        }

        int count = tiles == 0 ? 0 : firstCount;
        int vectorRows = Vector256.IsHardwareAccelerated ? rows & ~7 : 0;
        for (int k = 0; k < count; k++)
        {
            float* p = sT + ((long)k * lanes);
            for (int r = 0; r < vectorRows; r += 8)
            {
                Vector256<float> v = Vector256.Load(p + r) * Vector256.Load(inverse + r);
                Vector256.Store(Vector256.Load(scale + r) + Vector256.WidenLower(v), scale + r);
                Vector256.Store(Vector256.Load(scale + r + 4) + Vector256.WidenUpper(v), scale + r + 4);
            }

            for (int r = vectorRows; r < rows; r++) scale[r] += p[r] * inverse[r];
        }

        for (int r = 0; r < rows; r++)
        {
            double sum = scale[r];
            scale[r] = sum > 0 && sum != 1 ? 1 / sum : 1;
        }

        // Closed rows, and keys outside the tile, keep the fresh array's zeros.
        int kvLength = g.KvLength;
        double* block = call.CapturedProbabilities + ((((long)((b * g.NumHeads) + h) * g.QueryLength) + i0) * kvLength);
        for (int r = 0; r < rows; r++)
        {
            if (count == 0 || lo[r] > hi[r])
            {
                continue;
            }

            float rowInverse = inverse[r];
            double rowScale = scale[r];
            float* p = sT + r;
            double* target = block + ((long)r * kvLength) + firstTile;
            for (int k = 0; k < count; k++, p += lanes) target[k] = (double)(*p * rowInverse) * rowScale;
        }
    }

    /// <summary>
    /// One work item: query rows [i0, i0 + rows) of (b, h), one per lane of <paramref name="lanes"/>. Scores are kept
    /// transposed (key × row), so the online softmax runs down the columns: the running max, sum and rescaling factors are
    /// vectors across rows and need no horizontal reduction. K and V rows are read in place when float32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Block<TOps, TV>(KernelCall call, Workspace ws, int b, int h, int i0, int rows, int lanes)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, kvLength = g.KvLength;
        int kvHead = g.KvHeadOf(h);
        int w = TOps.Width;
        int valueRows = RoundUp(valueHeadSize, PanelGemm.Rows);

        float* qT = ws.Take(headSize * lanes);
        float* oT = ws.Take(valueRows * lanes);
        float* sT = ws.Take((MaxTile + PanelGemm.Rows) * lanes);
        float* m = ws.Take(lanes);
        float* l = ws.Take(lanes);
        float* alpha = ws.Take(lanes);
        float* open = ws.Take(lanes);
        int* lo = (int*)ws.Take(lanes);
        int* hi = (int*)ws.Take(lanes);
        float* loRel = ws.Take(lanes);
        float* hiRel = ws.Take(lanes);
        int* keyStart = (int*)ws.Take(lanes);
        int* keyEnd = (int*)ws.Take(lanes);
        float* tileMax = ws.Take(lanes);
        float* keyBuffer = call.Key.IsFloat32 ? null : ws.Take(MaxTile * headSize);
        float* valueBuffer = call.Value.IsFloat32 ? null : ws.Take(MaxTile * valueHeadSize);
        float* row = ws.Take(MaxTile + Math.Max(headSize, valueHeadSize) + valueHeadSize);
        float* line = row + MaxTile;
        float* result = line + Math.Max(headSize, valueHeadSize);

        // Qᵀ (scaled), empty state, and the open interval of each row; lanes past the rows stay closed and zero.
        int minLo = int.MaxValue, maxHi = -1, maxLo = -1, minHi = int.MaxValue;
        for (int r = 0; r < lanes; r++)
        {
            m[r] = float.NegativeInfinity;
            l[r] = 0;
            open[r] = 0;
            lo[r] = 1;
            hi[r] = 0;
            if (r < rows)
            {
                call.Range(b, i0 + r, out lo[r], out hi[r]);
                if (lo[r] <= hi[r])
                {
                    minLo = Math.Min(minLo, lo[r]);
                    maxHi = Math.Max(maxHi, hi[r]);
                    maxLo = Math.Max(maxLo, lo[r]);
                    minHi = Math.Min(minHi, hi[r]);
                }
            }
        }

        // Oᵀ is not cleared: every lane's weight alpha is 0 on the first tile the block computes (its running max was −∞), and a
        // weight of 0 drops the old value (PanelGemm.Rescale) instead of multiplying it.
        // Scores are kept in base-2 units (s·log₂e), so each exp is a subtraction and the short base-2 exp: without softcap or
        // mask Q is scaled by log₂e as well; with them the scores are turned after the softcap and the mask, which need them as
        // they are.
        bool general = call.Softcap > 0 || call.Bias.HasMask;
        TransposeQuery<TOps, TV>(call, b, h, i0, rows, lanes, qT, line, general ? call.Scale : call.Scale * VectorMath.Log2E);
        bool skipClosed = call.SkipClosed && RowSteps.AllFiniteRows<TOps, TV>(qT, 0, 1, headSize * lanes);
        if (!skipClosed && maxHi >= 0)
        {
            minLo = 0;
            maxHi = kvLength - 1;
        }

        TV negativeInfinity = TOps.Splat(float.NegativeInfinity), zero = TOps.Zero;
        // Tiles start at the first key any row of the block may see and stop at the last (K and V are read in place, so a
        // tile needs no alignment). The keys every open row sees, [maxLo, minHi], are tiled apart from the keys on either
        // side of them, so under a causal mask only the diagonal's keys make staircase tiles.
        // Where keys lie past the inside run (a causal diagonal), the run's last key minHi goes with them, and where keys lie
        // before it (a window's edge), its first key maxLo: every row sees that key, and with it the staircase of a block of
        // 64 rows that rise one key a row is 64 keys long, four steps of 16 keys (whole groups of the products: 6 + 6 + 4, or
        // 8 + 8 in the one-register panels), and a block whose rows all see only the staircase's keys (the first block under a
        // causal mask) gets no 1-key tile.
        int insideStart = minLo, insideEnd = minLo;
        if (maxHi >= 0 && maxLo <= minHi)
        {
            insideStart = Math.Clamp(minLo < maxLo ? maxLo + 1 : maxLo, minLo, maxHi + 1);
            insideEnd = Math.Clamp(minHi < maxHi ? minHi : minHi + 1, insideStart, maxHi + 1);
        }

        int tiles = 0, firstTile = 0, firstCount = 0;
        bool anyStaircase = false;
        for (int j0 = maxHi < 0 ? kvLength : minLo, count; j0 <= maxHi; j0 += count)
        {
            count = TileLength(j0 < insideStart ? insideStart : j0 < insideEnd ? insideEnd : maxHi + 1, j0);
            int last = j0 + count - 1;
            if (tiles++ == 0)
            {
                (firstTile, firstCount) = (j0, count);
            }
            // Every tile of [minLo, maxHi] meets some row's interval (a tile that only falls between the intervals of rows is
            // computed and fully masked, which changes nothing); it is "inside" when every open row sees all of it.
            bool inside = maxLo <= j0 && minHi >= last;

            // The tile's V rows (in place when float32) and whether they are all finite (then P·V is a plain product: 0·x = 0;
            // float32 V is checked once per head and call, converted V per tile).
            float* values = TileRows(call.Value, b, kvHead, j0, count, valueHeadSize, valueBuffer, out int valueStride);

            bool valuesFinite = call.Value.IsFloat32 ? call.ValueHeadFinite<TOps, TV>(b, kvHead) : RowSteps.AllFiniteRows<TOps, TV>(values, valueStride, count, valueHeadSize);

            // Each register of rows computes only the keys some of its rows may see ([0, count) unless the tile is a staircase).
            bool staircase = skipClosed && valuesFinite && !general && !inside
                && Staircase(w, lanes, rows, lo, hi, j0, count, keyStart, keyEnd);
            anyStaircase |= staircase;
            if (!staircase)
            {
                for (int v = 0; v < lanes; v += w)
                {
                    keyStart[v / w] = 0;
                    keyEnd[v / w] = count;
                }
            }

            // Sᵀ = K · (scale·Q)ᵀ, K rows read in place
            float* keys = TileRows(call.Key, b, kvHead, j0, count, headSize, keyBuffer, out int keyStride);

            // A tile every row sees whole, with no softcap or mask to change its scores: the product also returns each column's
            // maximum (from its registers, before the store), so the softmax needs no separate pass for it.
            bool fusedMax = inside && !general;
            if (fusedMax)
            {
                new Span<float>(tileMax, lanes).Fill(float.NegativeInfinity);
            }

            if (!staircase)
            {
                PanelGemm.MultiplyClamped<TOps, TV>(keys, keyStride, count, qT, lanes, sT, lanes, headSize, lanes, null, fusedMax ? tileMax : null);
            }
            else
            {
                for (int segment = 0; NextSegment(lanes / w, keyStart, keyEnd, ref segment, out int s0, out int s1, out int v0, out int v1);)
                {
                    PanelGemm.MultiplyClamped<TOps, TV>(keys + ((long)s0 * keyStride), keyStride, s1 - s0, qT + (v0 * w), lanes, sT + ((long)s0 * lanes) + (v0 * w), lanes, headSize, (v1 - v0) * w, null);
                }
            }

            if (general)
            {
                // Softcap and masks per row (the shared row steps), through a row-major copy of each column.
                for (int r = 0; r < rows; r++)
                {
                    if (lo[r] > hi[r])
                    {
                        continue;
                    }

                    for (int k = 0; k < count; k++) row[k] = sT[((long)k * lanes) + r];
                    if (RowSteps.SoftcapAndBias<TOps, TV>(call, row, count, j0, b, h, i0 + r, lo[r], hi[r]))
                    {
                        open[r] = 1;
                    }

                    for (int k = 0; k < count; k++) sT[((long)k * lanes) + r] = row[k] * VectorMath.Log2E;
                }
            }
            else if (!inside)
            {
                // Keys outside a row's [lo, hi] get + (−∞), lane by lane (tile-relative bounds are small exact floats).
                for (int r = 0; r < lanes; r++)
                {
                    loRel[r] = Math.Clamp(lo[r] - j0, -1, MaxTile);
                    hiRel[r] = Math.Clamp(hi[r] - j0, -1, MaxTile);
                }

                for (int v = 0; v < lanes; v += w)
                {
                    // Only keys that some open row of the register does not see: below the largest lo, above the smallest hi.
                    int needLow = int.MinValue, needHigh = int.MaxValue;
                    for (int lane = v; lane < Math.Min(v + w, rows); lane++)
                    {
                        if (lo[lane] <= hi[lane])
                        {
                            needLow = Math.Max(needLow, lo[lane] - j0);
                            needHigh = Math.Min(needHigh, hi[lane] - j0);
                        }
                    }

                    // Keys [k0, k1) of the register less the run that every one of its open rows sees.
                    int k0 = keyStart[v / w], k1 = keyEnd[v / w];
                    int seenFrom = Math.Clamp(needLow, k0, k1), seenTo = needHigh >= k1 ? k1 : Math.Clamp(needHigh + 1, k0, k1);
                    if (seenFrom >= seenTo)
                    {
                        seenFrom = seenTo = k1;
                    }

                    TV low = TOps.Load(loRel + v), high = TOps.Load(hiRel + v);
                    MaskKeys<TOps, TV>(sT + v, lanes, k0, seenFrom, low, high);
                    MaskKeys<TOps, TV>(sT + v, lanes, seenTo, k1, low, high);
                }
            }

            // Online softmax down the columns, on base-2 scores: m' = max(m, max_k s), p = 2^(s − m'), l = l·2^(m−m') + Σ p (the
            // short base-2 exp; see VectorMath). A lane whose scores are all −∞ so far uses 0 in place of m' (so p = 2^(−∞) = 0,
            // and a NaN score still poisons l).
            for (int v = 0; v < lanes; v += w)
            {
                float* column = sT + v;
                int k0 = keyStart[v / w], k1 = keyEnd[v / w];
                TV top = fusedMax ? TOps.Load(tileMax + v) : negativeInfinity;
                for (int key = fusedMax ? k1 : k0; key < k1; key++) top = TOps.MaxNative(top, TOps.Load(column + ((long)key * lanes)));
                TV mOld = TOps.Load(m + v);
                TV mNew = TOps.SelectLess(top, mOld, mOld, top);
                TV shift = TOps.Subtract(zero, TOps.SelectEqual(mNew, negativeInfinity, zero, mNew));
                TV a = VectorMath.Exp2NonPositive<TOps, TV>(TOps.Add(mOld, shift));
                // Two sums, so each addition waits on the one two keys back rather than on the last.
                TV sum = zero, sumOdd = zero;
                int k = k0;
                for (; k + 1 < k1; k += 2)
                {
                    float* at = column + ((long)k * lanes);
                    TV p = VectorMath.Exp2NonPositive<TOps, TV>(TOps.Add(TOps.Load(at), shift));
                    TV q = VectorMath.Exp2NonPositive<TOps, TV>(TOps.Add(TOps.Load(at + lanes), shift));
                    TOps.Store(p, at);
                    TOps.Store(q, at + lanes);
                    sum = TOps.Add(sum, p);
                    sumOdd = TOps.Add(sumOdd, q);
                }

                if (k < k1)
                {
                    float* at = column + ((long)k * lanes);
                    TV p = VectorMath.Exp2NonPositive<TOps, TV>(TOps.Add(TOps.Load(at), shift));
                    TOps.Store(p, at);
                    sum = TOps.Add(sum, p);
                }

                sum = TOps.Add(sum, sumOdd);

                TOps.Store(TOps.MultiplyAdd(TOps.Load(l + v), a, sum), l + v);
                TOps.Store(mNew, m + v);
                TOps.Store(a, alpha + v);
            }

            // Oᵀ = Oᵀ·diag(alpha) + Vᵀ · Pᵀ, V rows read in place; a column whose alpha is 0 (the first tile, or a weight that
            // underflowed) starts from 0 instead.
            if (staircase)
            {
                // Each segment's keys into the registers that see them. The rescale goes with the first segment when that one
                // spans every register (a causal diagonal's first 16 keys), else it is a pass of its own before them.
                int peek = 0;
                bool rescaleInFirst = NextSegment(lanes / w, keyStart, keyEnd, ref peek, out _, out _, out int firstV0, out int firstV1)
                    && firstV0 == 0 && firstV1 == lanes / w;
                if (!rescaleInFirst)
                {
                    for (int v = 0; v < lanes; v += w)
                    {
                        TV a = TOps.Load(alpha + v);
                        for (int e = 0; e < valueHeadSize; e++)
                        {
                            float* at = oT + ((long)e * lanes) + v;
                            TOps.Store(PanelGemm.Rescale<TOps, TV>(TOps.Load(at), a), at);
                        }
                    }
                }

                for (int segment = 0, index = 0; NextSegment(lanes / w, keyStart, keyEnd, ref segment, out int s0, out int s1, out int v0, out int v1); index++)
                {
                    PanelGemm.MultiplyTransposedA<TOps, TV>(values + ((long)s0 * valueStride), valueStride, valueHeadSize, sT + ((long)s0 * lanes) + (v0 * w), lanes, oT + (v0 * w), lanes, s1 - s0, (v1 - v0) * w, index == 0 && rescaleInFirst ? alpha : null);
                }
            }
            else if (valuesFinite)
            {
                PanelGemm.MultiplyTransposedA<TOps, TV>(values, valueStride, valueHeadSize, sT, lanes, oT, lanes, count, lanes, alpha);
            }
            else
            {
                AccumulateSkippingZeros(oT, alpha, sT, lanes, count, values, valueStride, valueHeadSize);
            }
        }

        if (call.CapturedProbabilities != null)
        {
            CaptureProbabilities(call, b, h, i0, rows, lanes, lo, hi, l, sT, tiles, firstTile, firstCount, anyStaircase);
        }

        // Each row out: O / l, zeros for a closed row, NaN for an open row whose scores were all −∞.
        if (call.Output.IsFloat32)
        {
            WriteRows<TOps, TV>(call, b, h, i0, rows, lanes, oT, l);
        }

        for (int r = 0; r < rows; r++)
        {
            bool isOpen = call.Bias.HasMask ? open[r] != 0 : lo[r] <= hi[r];
            float* target = call.Output.IsFloat32 ? call.Output.InPlace(b, h, i0 + r) : result;
            if (!isOpen)
            {
                new Span<float>(target, valueHeadSize).Clear();
            }
            else if (m[r] == float.NegativeInfinity)
            {
                new Span<float>(target, valueHeadSize).Fill(float.NaN);
            }
            else if (target == result)
            {
                for (int e = 0; e < valueHeadSize; e++) target[e] = oT[((long)e * lanes) + r] / l[r];
            }

            if (target == result)
            {
                call.Output.Write(b, h, i0 + r, result);
            }
        }
    }

    /// <summary>
    /// Float32 output rows [i0, i0 + rows) in place: Oᵀ divided by l down its columns (vertical vector divisions), then
    /// transposed back to rows in square register blocks. Closed and all-−∞ rows are overwritten by the caller afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void WriteRows<TOps, TV>(KernelCall call, int b, int h, int i0, int rows, int lanes, float* oT, float* l)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int valueHeadSize = call.Geometry.ValueHeadSize, w = TOps.Width;
        for (int v = 0; v < lanes; v += w)
        {
            TV inverse = TOps.Divide(TOps.Splat(1f), TOps.Load(l + v));
            for (int e = 0; e < valueHeadSize; e++)
            {
                float* at = oT + ((long)e * lanes) + v;
                TOps.Store(TOps.Multiply(TOps.Load(at), inverse), at);
            }
        }

        float* output = call.Output.InPlace(b, h, i0);
        int stride = call.Output.PositionStride;
        int r0 = 0;
        for (; r0 <= rows - w; r0 += w)
        {
            int e = 0;
            for (; e <= valueHeadSize - w; e += w)
            {
                TOps.TransposeScaled(oT + ((long)e * lanes) + r0, lanes, output + ((long)r0 * stride) + e, stride, 1f);
            }

            for (; e < valueHeadSize; e++)
            {
                for (int r = r0; r < r0 + w; r++) output[((long)r * stride) + e] = oT[((long)e * lanes) + r];
            }
        }

        for (int r = r0; r < rows; r++)
        {
            for (int e = 0; e < valueHeadSize; e++) output[((long)r * stride) + e] = oT[((long)e * lanes) + r];
        }
    }

    /// <summary>Adds −∞ to the scores of keys [k0, k1) outside each lane's tile-relative [low, high] (one register of rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaskKeys<TOps, TV>(float* column, int lanes, int k0, int k1, TV low, TV high)
        where TOps : ISimd<TV>
        where TV : struct
    {
        TV negativeInfinity = TOps.Splat(float.NegativeInfinity), zero = TOps.Zero;
        for (int k = k0; k < k1; k++)
        {
            float* at = column + ((long)k * lanes);
            TV key = TOps.Splat(k);
            TV x = TOps.Add(TOps.Load(at), TOps.SelectLess(key, low, negativeInfinity, zero));
            TOps.Store(TOps.Add(x, TOps.SelectLess(high, key, negativeInfinity, zero)), at);
        }
    }

    /// <summary>
    /// Keys in the next tile from <paramref name="j0"/> of a run of keys that ends at <paramref name="end"/>: the run split into
    /// as few tiles of at most <see cref="KeyBlock"/> as it takes, of equal lengths rounded up to whole panels (so no short
    /// last tile pays a tile's fixed costs for a few keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static int TileLength(int end, int j0)
    {
        int remaining = end - j0;
        if (remaining <= MaxTile)
        {
            return remaining;
        }

        int tiles = CeilDiv(remaining, KeyBlock);
        return Math.Min(remaining, RoundUp(CeilDiv(remaining, tiles), PanelGemm.Rows));
    }

    /// <summary>Asks the cache for rows [i0, i0 + rows) of (b, h) when they are float32 in place (a hint: no effect on results).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static void Prefetch(TensorRows tensor, int b, int h, int i0, int rows, int size)
    {
        if (!Sse.IsSupported || !tensor.IsFloat32 || rows <= 0)
        {
            return;
        }

        byte* first = (byte*)tensor.InPlace(b, h, i0);
        long stride = (long)tensor.PositionStride * sizeof(float);
        if (stride == (long)size * sizeof(float))
        {
            // Contiguous rows: one hint per 64-byte line.
            for (long at = 0; at < rows * stride; at += 64) Sse.Prefetch1(first + at);
            return;
        }

        for (int r = 0; r < rows; r++)
        {
            for (int at = 0; at < size * sizeof(float); at += 64) Sse.Prefetch1(first + (r * stride) + at);
        }
    }

    /// <summary>
    /// Rows [j0, j0 + count) of (b, kvHead): in place when float32 (<paramref name="stride"/> = the tensor's row stride), else
    /// converted into <paramref name="buffer"/> (stride = <paramref name="size"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static float* TileRows(TensorRows rows, int b, int kvHead, int j0, int count, int size, float* buffer, out int stride)
    {
        if (rows.IsFloat32)
        {
            stride = rows.PositionStride;
            return rows.InPlace(b, kvHead, j0);
        }

        for (int jj = 0; jj < count; jj++) rows.Read(b, kvHead, j0 + jj, buffer + ((long)jj * size), 1f);
        stride = size;
        return buffer;
    }

    /// <summary>qT[d·lanes + r] = scale·Q[b, h, i0 + r, d] for r &lt; rows, 0 for the lanes past them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void TransposeQuery<TOps, TV>(KernelCall call, int b, int h, int i0, int rows, int lanes, float* qT, float* line, float scale)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int headSize = call.Geometry.HeadSize, w = TOps.Width;
        int r0 = 0;
        if (call.Query.IsFloat32)
        {
            // Whole registers of rows straight from Q (rows of one head are PositionStride apart): square blocks transposed in
            // registers, and the last D mod W columns gathered.
            float* q = call.Query.InPlace(b, h, i0);
            int stride = call.Query.PositionStride;
            TV factor = TOps.Splat(scale);
            for (; r0 <= rows - w; r0 += w)
            {
                float* source = q + ((long)r0 * stride);
                int d = 0;
                for (; d <= headSize - w; d += w)
                {
                    TOps.TransposeScaled(source + d, stride, qT + ((long)d * lanes) + r0, lanes, scale);
                }

                for (; d < headSize; d++)
                {
                    TOps.Store(TOps.Multiply(TOps.LoadStrided(source + d, stride), factor), qT + ((long)d * lanes) + r0);
                }
            }
        }

        for (int r = r0; r < lanes; r++)
        {
            if (r < rows)
            {
                float* q = call.Query.Row(b, h, i0 + r, line);
                for (int d = 0; d < headSize; d++) qT[((long)d * lanes) + r] = q[d] * scale;
            }
            else
            {
                for (int d = 0; d < headSize; d++) qT[((long)d * lanes) + r] = 0;
            }
        }
    }

    /// <summary>
    /// The key range [keyStart[v], keyEnd[v]) of the tile [j0, j0 + count) that register v of rows may see (the union of its
    /// open rows' intervals; empty as [0, 0)). True when the ranges of the non-empty registers rise with v at both ends (causal
    /// and window masks), so that every key is needed by a run of consecutive registers: the tile is then computed as a
    /// staircase of segments, each only for the registers that see it, instead of as a full square.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static bool Staircase(int w, int lanes, int rows, int* lo, int* hi, int j0, int count, int* keyStart, int* keyEnd)
    {
        int previousStart = 0, previousEnd = 0;
        for (int v = 0; v * w < lanes; v++)
        {
            int first = int.MaxValue, last = int.MinValue;
            for (int r = v * w; r < Math.Min(rows, (v + 1) * w); r++)
            {
                if (lo[r] <= hi[r])
                {
                    first = Math.Min(first, lo[r]);
                    last = Math.Max(last, hi[r]);
                }
            }

            int start = first > last ? 0 : Math.Clamp(first - j0, 0, count), end = first > last ? 0 : Math.Clamp(last - j0 + 1, 0, count);
            if (start >= end)
            {
                keyStart[v] = keyEnd[v] = 0;
                continue;
            }

            if (start < previousStart || end < previousEnd)
            {
                return false;
            }

            keyStart[v] = previousStart = start;
            keyEnd[v] = previousEnd = end;
        }

        return true;
    }

    /// <summary>
    /// The next segment [s0, s1) of a staircase tile and the registers [v0, v1) that see all of it; <paramref name="segment"/>
    /// is the key where the search resumes (start with 0). False when no keys are left.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static bool NextSegment(int vectors, int* keyStart, int* keyEnd, ref int segment, out int s0, out int s1, out int v0, out int v1)
    {
        while (true)
        {
            // The segment starts at the first key at or after the resume point that some register sees, and ends at the next
            // range boundary of any register.
            s0 = int.MaxValue;
            for (int v = 0; v < vectors; v++)
            {
                if (keyStart[v] < keyEnd[v] && keyEnd[v] > segment)
                {
                    s0 = Math.Min(s0, Math.Max(keyStart[v], segment));
                }
            }

            if (s0 == int.MaxValue)
            {
                s1 = v0 = v1 = 0;
                return false;
            }

            s1 = int.MaxValue;
            for (int v = 0; v < vectors; v++)
            {
                if (keyStart[v] < keyEnd[v])
                {
                    if (keyStart[v] > s0) s1 = Math.Min(s1, keyStart[v]);
                    if (keyEnd[v] > s0) s1 = Math.Min(s1, keyEnd[v]);
                }
            }

            v0 = -1;
            v1 = -1;
            for (int v = 0; v < vectors; v++)
            {
                if (keyStart[v] <= s0 && keyEnd[v] >= s1 && keyStart[v] < keyEnd[v])
                {
                    if (v0 < 0) v0 = v;
                    v1 = v + 1;
                }
            }

            segment = s1;
            if (v0 >= 0)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Oᵀ ← Oᵀ·diag(alpha) + Σ_k p[k]·V[k] per lane over the keys whose p is not exactly 0, so a masked key's NaN/∞ value
    /// cannot leak (the path for V tiles that are not all finite).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    private static void AccumulateSkippingZeros(float* oT, float* alpha, float* pT, int lanes, int count, float* values, int valueStride, int valueHeadSize)
    {
        for (int r = 0; r < lanes; r++)
        {
            float a = alpha[r];
            for (int e = 0; e < valueHeadSize; e++) oT[((long)e * lanes) + r] = a == 0 ? 0 : oT[((long)e * lanes) + r] * a;
            for (int k = 0; k < count; k++)
            {
                float p = pT[((long)k * lanes) + r];
                if (p == 0)
                {
                    continue;
                }

                float* v = values + ((long)k * valueStride);
                for (int e = 0; e < valueHeadSize; e++) oT[((long)e * lanes) + r] += p * v[e];
            }
        }
    }

    /// <summary>Kᵀ tile: kt[d·64 + jj] = K[b, kvHead, j0 + jj, d], zero-padded to <paramref name="columns"/> keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void PackKeys(KernelCall call, int b, int kvHead, int j0, int count, int columns, float* kt, float* scratch)
    {
        int headSize = call.Geometry.HeadSize;
        for (int jj = 0; jj < count; jj++)
        {
            float* key = call.Key.Row(b, kvHead, j0 + jj, scratch);
            for (int d = 0; d < headSize; d++)
            {
                kt[(d * KeyTile) + jj] = key[d];
            }
        }

        for (int d = 0; d < headSize; d++)
        {
            new Span<float>(kt + (d * KeyTile) + count, columns - count).Clear();
        }
    }

    /// <summary>V tile: vt[jj·Dv' + e] = V[b, kvHead, j0 + jj, e], zero-padded to Dv' columns. Returns true when every value is finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static bool PackValues<TOps, TV>(KernelCall call, int b, int kvHead, int j0, int count, float* vt, int paddedValue)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int valueHeadSize = call.Geometry.ValueHeadSize;
        for (int jj = 0; jj < count; jj++)
        {
            float* row = vt + ((long)jj * paddedValue);
            call.Value.Read(b, kvHead, j0 + jj, row, 1f);
            new Span<float>(row + valueHeadSize, paddedValue - valueHeadSize).Clear();
        }

        return RowSteps.AllFiniteRows<TOps, TV>(vt, 0, 1, count * paddedValue);
    }

    public static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    public static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}
