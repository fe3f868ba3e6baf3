using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// Fused attention without the T×S matrix (FlashAttention-2, Dao 2023, arranged for a CPU): each work item takes one
/// (batch, head) and a chunk of query rows, walks the keys in tiles of <see cref="KeyTile"/>, and for every 6-row panel
/// computes the scores with <see cref="PanelGemm"/>, updates the running max and sum, and accumulates P·V into the
/// chunk's output rows. Memory: per worker O(chunk·(D + Dv) + tile·(D + Dv)) floats, never O(T·S).
/// </summary>
internal static unsafe class FlashAttention
{
    /// <summary>
    /// Keys per tile: the packed Kᵀ (D × 64) and V (64 × Dv) tiles take 16 KiB each at D = Dv = 64, so both stay in
    /// a 48 KiB L1 while every panel of the chunk reuses them.
    /// </summary>
    public const int KeyTile = 64;

    /// <summary>Most query rows per work item: the packing of each key tile is shared by this many rows.</summary>
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

    /// <summary>Rows per work item: as many as <see cref="MaxChunkRows"/>, fewer when that would leave threads idle.</summary>
    public static int ChunkRows(AttentionGeometry g, int threads)
    {
        int rows = Math.Min(RoundUp(Math.Max(g.QueryLength, 1), PanelGemm.Rows), MaxChunkRows);
        while (rows > 4 * PanelGemm.Rows && (long)g.Batch * g.NumHeads * CeilDiv(g.QueryLength, rows) < 4L * threads)
        {
            rows = RoundUp(rows / 2, PanelGemm.Rows);
        }

        return rows;
    }

    private static void Run<TOps, TV>(KernelCall call)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int w = TOps.Width;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, paddedValue = RoundUp(valueHeadSize, w);
        int chunkRows = ChunkRows(g, call.Threads);
        int chunks = CeilDiv(g.QueryLength, chunkRows);
        int items = g.Batch * g.NumHeads * chunks;
        int workspaceFloats = Workspace.Size(
            chunkRows * headSize,               // Q rows, scaled
            chunkRows * paddedValue,            // running output rows
            headSize * KeyTile,                 // Kᵀ tile
            KeyTile * paddedValue,              // V tile
            PanelGemm.Rows * KeyTile,           // scores / probabilities of one panel
            chunkRows * 3,                      // m, l, open
            PanelGemm.Rows,                     // rescaling factors of one panel
            Math.Max(headSize, valueHeadSize) + paddedValue); // conversion scratch and the final row

        KernelThreads.For(items, call.Threads, () => new Workspace(workspaceFloats), (item, ws) =>
        {
            // Chunks far down the query axis see the most keys under a causal mask: start them first.
            int chunk = chunks - 1 - (item % chunks);
            int bh = item / chunks;
            Chunk<TOps, TV>(call, ws, bh / g.NumHeads, bh % g.NumHeads, chunk * chunkRows, Math.Min(chunkRows, g.QueryLength - (chunk * chunkRows)), chunkRows, paddedValue);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Chunk<TOps, TV>(KernelCall call, Workspace ws, int b, int h, int i0, int rows, int chunkRows, int paddedValue)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, kvLength = g.KvLength;
        int kvHead = g.KvHeadOf(h);
        int w = TOps.Width;
        int panels = CeilDiv(rows, PanelGemm.Rows), paddedRows = panels * PanelGemm.Rows;

        float* q = ws.Take(chunkRows * headSize);
        float* o = ws.Take(chunkRows * paddedValue);
        float* kt = ws.Take(headSize * KeyTile);
        float* vt = ws.Take(KeyTile * paddedValue);
        float* s = ws.Take(PanelGemm.Rows * KeyTile);
        float* m = ws.Take(chunkRows);
        float* l = ws.Take(chunkRows);
        float* openFlags = ws.Take(chunkRows);
        float* alpha = ws.Take(PanelGemm.Rows);
        float* scratch = ws.Take(Math.Max(headSize, valueHeadSize) + paddedValue);
        var lo = new int[paddedRows];
        var hi = new int[paddedRows];

        // Rows of this chunk: scaled Q, empty state, and the open interval of each row.
        int minLo = int.MaxValue, maxHi = -1;
        for (int r = 0; r < paddedRows; r++)
        {
            m[r] = float.NegativeInfinity;
            l[r] = 0;
            openFlags[r] = 0;
            new Span<float>(o + ((long)r * paddedValue), paddedValue).Clear();
            if (r < rows)
            {
                call.Query.Read(b, h, i0 + r, q + ((long)r * headSize), call.Scale);
                call.Range(b, i0 + r, out lo[r], out hi[r]);
                if (lo[r] <= hi[r])
                {
                    minLo = Math.Min(minLo, lo[r]);
                    maxHi = Math.Max(maxHi, hi[r]);
                }
            }
            else
            {
                new Span<float>(q + ((long)r * headSize), headSize).Clear();
                lo[r] = 1;
                hi[r] = 0;
            }
        }

        if (!call.SkipClosed && maxHi >= 0)
        {
            minLo = 0;
            maxHi = kvLength - 1;
        }

        for (int j0 = maxHi < 0 ? kvLength : minLo / KeyTile * KeyTile; j0 <= maxHi; j0 += KeyTile)
        {
            int count = Math.Min(KeyTile, kvLength - j0), columns = RoundUp(count, w), last = j0 + count - 1;
            bool packed = false, valuesFinite = true;
            for (int p = 0; p < panels; p++)
            {
                int r0 = p * PanelGemm.Rows;
                if (!PanelTouches(lo, hi, r0, j0, last, call.SkipClosed))
                {
                    continue;
                }

                if (!packed)
                {
                    PackKeys(call, b, kvHead, j0, count, columns, kt, scratch);
                    valuesFinite = PackValues<TOps, TV>(call, b, kvHead, j0, count, vt, paddedValue);
                    packed = true;
                }

                // scores = (scale·Q) · Kᵀ for the panel's 6 rows and this tile's keys
                PanelGemm.Multiply<TOps, TV>(q + ((long)r0 * headSize), headSize, kt, KeyTile, s, KeyTile, headSize, columns, null);
                for (int rr = 0; rr < PanelGemm.Rows; rr++)
                {
                    int r = r0 + rr;
                    float* row = s + (rr * KeyTile);
                    alpha[rr] = 1;
                    if (lo[r] > hi[r] || (call.SkipClosed && (last < lo[r] || j0 > hi[r])))
                    {
                        new Span<float>(row, count).Clear();
                        continue;
                    }

                    if (RowSteps.SoftcapAndBias<TOps, TV>(call, row, count, j0, b, h, i0 + r, lo[r], hi[r]))
                    {
                        openFlags[r] = 1;
                    }

                    float a = RowSteps.Update<TOps, TV>(row, count, ref m[r], ref l[r]);
                    if (a == 0 && valuesFinite)
                    {
                        // The old output's weight underflowed to exactly 0: drop it rather than multiply (0·∞ would be NaN).
                        new Span<float>(o + ((long)r * paddedValue), paddedValue).Clear();
                        a = 1;
                    }

                    alpha[rr] = a;
                }

                float* oPanel = o + ((long)r0 * paddedValue);
                if (valuesFinite)
                {
                    // O = diag(alpha)·O + P · V
                    PanelGemm.Multiply<TOps, TV>(s, KeyTile, vt, paddedValue, oPanel, paddedValue, count, paddedValue, alpha);
                }
                else
                {
                    for (int rr = 0; rr < PanelGemm.Rows; rr++)
                    {
                        RowSteps.AccumulateSkippingZeros<TOps, TV>(oPanel + ((long)rr * paddedValue), alpha[rr], s + (rr * KeyTile), count, vt, paddedValue, paddedValue);
                    }
                }
            }
        }

        float* result = scratch + Math.Max(headSize, valueHeadSize);
        for (int r = 0; r < rows; r++)
        {
            bool open = call.Bias.HasMask ? openFlags[r] != 0 : lo[r] <= hi[r];
            Finish(o + ((long)r * paddedValue), m[r], l[r], open, result, valueHeadSize);
            call.Output.Write(b, h, i0 + r, result);
        }
    }

    /// <summary>
    /// The final row: zeros for a fully masked row; NaN when the row was open but every score was −∞ (the reference's
    /// exp(−∞ − (−∞))); else O / l.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public static void Finish(float* o, float m, float l, bool open, float* result, int valueHeadSize)
    {
        if (!open)
        {
            new Span<float>(result, valueHeadSize).Clear();
        }
        else if (m == float.NegativeInfinity)
        {
            new Span<float>(result, valueHeadSize).Fill(float.NaN);
        }
        else
        {
            for (int e = 0; e < valueHeadSize; e++) result[e] = o[e] / l;
        }
    }

    private static bool PanelTouches(int[] lo, int[] hi, int r0, int j0, int last, bool skipClosed)
    {
        for (int r = r0; r < r0 + PanelGemm.Rows; r++)
        {
            if (lo[r] <= hi[r] && (!skipClosed || (last >= lo[r] && j0 <= hi[r])))
            {
                return true;
            }
        }

        return false;
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

        return RowSteps.AllFinite<TOps, TV>(vt, count * paddedValue);
    }

    public static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    public static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}
