using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// Attention with whole rows of scores in memory, for the calls that need them: <c>qk_matmul_output</c> (any mode) and a
/// <c>softmax_precision</c> of float16, bfloat16 or double, whose rounding depends on the row's final maximum and sum.
/// Each work item holds S scores for a chunk of query rows (the chunk shrinks as S grows, about 4 MiB per worker);
/// the product and the P·V step use the same <see cref="PanelGemm"/> as <see cref="FlashAttention"/>.
/// </summary>
internal static unsafe class MaterializedAttention
{
    private const int RowBudgetFloats = 1 << 20;

    public static void Run(KernelCall call, TensorRows? qkOutput, SimdTier tier)
    {
        switch (tier)
        {
            case SimdTier.Vector512: Run<Simd512, Vector512<float>>(call, qkOutput); break;
            case SimdTier.Vector256: Run<Simd256, Vector256<float>>(call, qkOutput); break;
            case SimdTier.Vector128: Run<Simd128, Vector128<float>>(call, qkOutput); break;
            default: Run<SimdScalar, float>(call, qkOutput); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per call: optimized from the first call, not after tiering
    private static void Run<TOps, TV>(KernelCall call, TensorRows? qkOutput)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        int w = TOps.Width;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, paddedValue = FlashAttention.RoundUp(valueHeadSize, w);
        int stride = FlashAttention.RoundUp(Math.Max(g.KvLength, 1), FlashAttention.KeyTile);
        int chunkRows = Math.Clamp(RowBudgetFloats / stride / PanelGemm.Rows * PanelGemm.Rows, PanelGemm.Rows, 16 * PanelGemm.Rows);
        chunkRows = Math.Min(chunkRows, FlashAttention.ChunkRows(g, call.Threads));
        int chunks = FlashAttention.CeilDiv(g.QueryLength, chunkRows);
        int items = g.Batch * g.NumHeads * chunks;
        int workspaceFloats = Workspace.Size(
            chunkRows * headSize,
            chunkRows * paddedValue,
            chunkRows * stride,
            headSize * FlashAttention.KeyTile,
            FlashAttention.KeyTile * paddedValue,
            PanelGemm.Rows,
            Math.Max(Math.Max(headSize, valueHeadSize), stride));

        KernelThreads.For(items, call.Threads, workspaceFloats, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (item, ws) =>
        {
            int chunk = item % chunks, bh = item / chunks;
            Chunk<TOps, TV>(call, qkOutput, ws, bh / g.NumHeads, bh % g.NumHeads, chunk * chunkRows, Math.Min(chunkRows, g.QueryLength - (chunk * chunkRows)), chunkRows, stride, paddedValue);
        }, call.Cancellation);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Chunk<TOps, TV>(KernelCall call, TensorRows? qkOutput, Workspace ws, int b, int h, int i0, int rows, int chunkRows, int stride, int paddedValue)
        where TOps : ISimd<TV>
        where TV : struct
    {
        AttentionGeometry g = call.Geometry;
        AttentionOptions options = call.Options;
        int headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize, kvLength = g.KvLength, kvHead = g.KvHeadOf(h);
        int panels = FlashAttention.CeilDiv(rows, PanelGemm.Rows), paddedRows = panels * PanelGemm.Rows;
        const int Tile = FlashAttention.KeyTile;

        float* q = ws.Take(chunkRows * headSize);
        float* o = ws.Take(chunkRows * paddedValue);
        float* s = ws.Take(chunkRows * stride);
        float* kt = ws.Take(headSize * Tile);
        float* vt = ws.Take(Tile * paddedValue);
        float* ones = ws.Take(PanelGemm.Rows);
        float* scratch = ws.Take(Math.Max(Math.Max(headSize, valueHeadSize), stride));
        new Span<float>(ones, PanelGemm.Rows).Fill(1f);
        for (int r = 0; r < paddedRows; r++)
        {
            new Span<float>(o + ((long)r * paddedValue), paddedValue).Clear();
            if (r < rows)
            {
                call.Query.Read(b, h, i0 + r, q + ((long)r * headSize), call.Scale);
            }
            else
            {
                new Span<float>(q + ((long)r * headSize), headSize).Clear();
            }
        }

        // pass 1: scores = (scale·Q)·Kᵀ for every key, tile by tile
        for (int j0 = 0; j0 < kvLength; j0 += Tile)
        {
            int count = Math.Min(Tile, kvLength - j0), columns = FlashAttention.RoundUp(count, TOps.Width);
            FlashAttention.PackKeys(call, b, kvHead, j0, count, columns, kt, scratch);
            for (int r0 = 0; r0 < paddedRows; r0 += PanelGemm.Rows)
            {
                PanelGemm.Multiply<TOps, TV>(q + ((long)r0 * headSize), headSize, kt, Tile, s + ((long)r0 * stride) + j0, stride, headSize, columns, null);
            }
        }

        // pass 2, per row: capture, softcap, capture, bias, capture, softmax, capture
        DType? precision = options.SoftmaxPrecision switch
        {
            SoftmaxPrecision.Float16 => DType.Float16,
            SoftmaxPrecision.BFloat16 => DType.BFloat16,
            SoftmaxPrecision.Double => DType.Float64,
            _ => null,
        };
        QkMatmulOutputMode? capture = options.ComputeQkMatmulOutput ? options.QkMatmulOutputMode : null;
        for (int r = 0; r < paddedRows; r++)
        {
            float* row = s + ((long)r * stride);
            if (r >= rows)
            {
                new Span<float>(row, stride).Clear();
                continue;
            }

            int i = i0 + r;
            if (capture == QkMatmulOutputMode.Scaled) qkOutput!.Write(b, h, i, row);
            if (call.Softcap > 0) RowSteps.Softcap<TOps, TV>(row, kvLength, call.Softcap);
            if (capture == QkMatmulOutputMode.Softcapped) qkOutput!.Write(b, h, i, row);
            call.Range(b, i, out int lo, out int hi);
            bool open = RowSteps.Bias<TOps, TV>(call, row, kvLength, 0, b, h, i, lo, hi);
            if (capture == QkMatmulOutputMode.Biased) qkOutput!.Write(b, h, i, row);
            if (!open)
            {
                new Span<float>(row, kvLength).Clear();
            }
            else if (precision is DType type)
            {
                RoundedSoftmax(row, kvLength, type);
            }
            else
            {
                Softmax<TOps, TV>(row, kvLength);
            }

            if (capture == QkMatmulOutputMode.Probabilities) qkOutput!.Write(b, h, i, row);
            new Span<float>(row + kvLength, stride - kvLength).Clear();
        }

        if (call.ProbabilitiesOnly)
        {
            return;
        }

        // pass 3: y = P · V, tile by tile
        for (int j0 = 0; j0 < kvLength; j0 += Tile)
        {
            int count = Math.Min(Tile, kvLength - j0);
            bool finite = FlashAttention.PackValues<TOps, TV>(call, b, kvHead, j0, count, vt, paddedValue);
            for (int r0 = 0; r0 < paddedRows; r0 += PanelGemm.Rows)
            {
                float* p = s + ((long)r0 * stride) + j0;
                float* oPanel = o + ((long)r0 * paddedValue);
                if (finite)
                {
                    PanelGemm.Multiply<TOps, TV>(p, stride, vt, paddedValue, oPanel, paddedValue, count, paddedValue, ones);
                }
                else
                {
                    for (int rr = 0; rr < PanelGemm.Rows; rr++)
                    {
                        RowSteps.AccumulateSkippingZeros<TOps, TV>(oPanel + ((long)rr * paddedValue), 1f, p + ((long)rr * stride), count, vt, paddedValue, paddedValue);
                    }
                }
            }
        }

        for (int r = 0; r < rows; r++)
        {
            call.Output.Write(b, h, i0 + r, o + ((long)r * paddedValue));
        }
    }

    /// <summary>
    /// Max-subtracted softmax in float32: p = exp(x − max) / Σ exp(x − max), all NaN when the row holds a NaN or +∞, as in the
    /// reference (a NaN the hardware max passes over still turns its exponential, and so the sum, into NaN). The row must have
    /// room for <paramref name="count"/> rounded up to the vector width: the lanes past the end are set to −∞ (exp gives 0) so that
    /// every step runs on whole registers; they hold zeros afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void Softmax<TOps, TV>(float* row, int count)
        where TOps : ISimd<TV>
        where TV : struct
    {
        // One sentence's rows are about 20 keys: with a scalar tail (a scalar exp per key) they cost more than the full registers.
        int padded = FlashAttention.RoundUp(count, TOps.Width);
        new Span<float>(row + count, padded - count).Fill(float.NegativeInfinity);
        TV vmax = TOps.Splat(float.NegativeInfinity);
        for (int j = 0; j < padded; j += TOps.Width)
        {
            vmax = TOps.MaxNative(vmax, TOps.Load(row + j));
        }

        TV max = TOps.Splat(TOps.MaxAcross(vmax)), sum = TOps.Zero;
        for (int j = 0; j < padded; j += TOps.Width)
        {
            TV e = VectorMath.Exp<TOps, TV>(TOps.Subtract(TOps.Load(row + j), max));
            TOps.Store(e, row + j);
            sum = TOps.Add(sum, e);
        }

        TV total = TOps.Splat(TOps.SumAcross(sum));
        for (int j = 0; j < padded; j += TOps.Width)
        {
            TOps.Store(TOps.Divide(TOps.Load(row + j), total), row + j);
        }
    }

    /// <summary>The reference's softmax with every input, exponential, the sum and every output rounded to <paramref name="type"/>, computed in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private static void RoundedSoftmax(float* row, int count, DType type)
    {
        double max = double.NegativeInfinity;
        for (int k = 0; k < count; k++) max = Math.Max(max, DTypes.Round(row[k], type));
        double sum = 0;
        for (int k = 0; k < count; k++)
        {
            double e = DTypes.Round(Math.Exp(DTypes.Round(row[k], type) - max), type);
            row[k] = (float)e;
            sum += e;
        }

        sum = DTypes.Round(sum, type);
        for (int k = 0; k < count; k++) row[k] = (float)DTypes.Round(row[k] / sum, type);
    }
}
