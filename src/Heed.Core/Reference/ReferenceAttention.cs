namespace Heed.Reference;

/// <summary>
/// The executable specification of Heed's attention: the ONNX <c>Attention</c> operator (opsets 23–25) computed
/// with plain loops and float64 accumulators, every intermediate materialized, in numbered passes.
/// Every fast kernel is tested against this class. It favours being read over being fast.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>
    /// Y = softmax(scale·Q·Kᵀ (softcapped) + bias) · V, per head, with the GQA mapping h → h / (H / Hkv).
    /// Shapes: see <see cref="AttentionInputs"/> and <see cref="AttentionResult"/>.
    /// </summary>
    /// <exception cref="HeedException">An input breaks a rule of the semantics (checked before any arithmetic).</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired (looked at before each row of scores).</exception>
    public static AttentionResult Compute(AttentionInputs inputs, AttentionOptions? options = null) => Compute(inputs, options, biasedScores: null);

    /// <summary>
    /// As the public overload; <paramref name="biasedScores"/>, when given ([B, H, T, S]), also receives the scores after softcap
    /// and bias (the <see cref="QkMatmulOutputMode.Biased"/> output), so that a capture needs one pass, not two.
    /// </summary>
    private static AttentionResult Compute(AttentionInputs inputs, AttentionOptions? options, double[]? biasedScores)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new AttentionOptions();
        options.Cancellation.ThrowIfCancellationRequested();
        AttentionGeometry g = AttentionGeometry.Resolve(inputs, options);
        int batch = g.Batch, heads = g.NumHeads, kvHeads = g.KvNumHeads;
        int queryLength = g.QueryLength, kvLength = g.KvLength, headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        int newKvLength = kvLength - g.PastLength;
        if (Tensor.LengthOrNull([queryLength, kvLength]) is null)
        {
            // The kernels stream the scores in tiles; the specification materializes every head's whole (T, S) matrix.
            throw new HeedException(
                $"the reference materializes each head's [T, S] = [{queryLength}, {kvLength}] scores, {(long)queryLength * kvLength} elements, more than one array can hold ({Array.MaxLength}); run this call without the reference");
        }

        // pass 0: every input to float64 in the 4-D layout (B, heads, len, size).
        double[] q = ToHeadMajor(inputs.Query, g.IsPacked, batch, heads, queryLength, headSize);        // (B, H, T, D)
        double[] newK = ToHeadMajor(inputs.Key, g.IsPacked, batch, kvHeads, newKvLength, headSize);      // (B, Hkv, Skv, D)
        double[] newV = ToHeadMajor(inputs.Value, g.IsPacked, batch, kvHeads, newKvLength, valueHeadSize); // (B, Hkv, Skv, Dv)

        // pass 1: KV cache, K ← concat(past_key, K), V ← concat(past_value, V) along the sequence axis.
        double[] k = ConcatSequence(inputs.PastKey, newK, batch, kvHeads, g.PastLength, newKvLength, headSize);        // (B, Hkv, S, D)
        double[] v = ConcatSequence(inputs.PastValue, newV, batch, kvHeads, g.PastLength, newKvLength, valueHeadSize); // (B, Hkv, S, Dv)

        var bias = new AttentionBias(inputs, options, g);
        DType? softmaxType = SoftmaxType(options.SoftmaxPrecision);
        var y = new double[batch * heads * queryLength * valueHeadSize]; // (B, H, T, Dv)
        double[]? qkOutput = options.ComputeQkMatmulOutput ? new double[batch * heads * queryLength * kvLength] : null; // (B, H, T, S)
        var scores = new double[queryLength * kvLength]; // (T, S) for one (b, h)
        var fullyMasked = new bool[queryLength];

        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                int kvHead = g.KvHeadOf(h);
                int qBase = (b * heads + h) * queryLength * headSize;
                int kBase = (b * kvHeads + kvHead) * kvLength * headSize;
                int vBase = (b * kvHeads + kvHead) * kvLength * valueHeadSize;
                int qkBase = (b * heads + h) * queryLength * kvLength;

                // pass 2: scores = scale · q·kᵀ
                for (int i = 0; i < queryLength; i++)
                {
                    // A row of S·D products is the unit of work a cancellation waits for (the reference has no tiles).
                    options.Cancellation.ThrowIfCancellationRequested();
                    for (int j = 0; j < kvLength; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < headSize; d++)
                        {
                            dot += q[qBase + (i * headSize) + d] * k[kBase + (j * headSize) + d];
                        }

                        scores[(i * kvLength) + j] = g.Scale * dot;
                    }
                }

                CaptureQk(qkOutput, qkBase, scores, options, QkMatmulOutputMode.Scaled);

                // pass 3: softcap, before any mask, so masked positions stay −∞.
                if (options.Softcap > 0)
                {
                    for (int n = 0; n < scores.Length; n++)
                    {
                        scores[n] = options.Softcap * Math.Tanh(scores[n] / options.Softcap);
                    }
                }

                CaptureQk(qkOutput, qkBase, scores, options, QkMatmulOutputMode.Softcapped);

                // pass 4: scores += bias (attn_mask, causal, window, nonpad_kv_seqlen). A row is fully masked when
                // its bias is −∞ everywhere: decided on the bias, so +∞ scores cannot turn it into NaN.
                for (int i = 0; i < queryLength; i++)
                {
                    bool allMasked = true;
                    for (int j = 0; j < kvLength; j++)
                    {
                        double add = bias.At(b, h, i, j);
                        allMasked &= double.IsNegativeInfinity(add);
                        scores[(i * kvLength) + j] += add;
                    }

                    fullyMasked[i] = allMasked;
                }

                CaptureQk(qkOutput, qkBase, scores, options, QkMatmulOutputMode.Biased);
                if (biasedScores is not null) scores.CopyTo(biasedScores, qkBase);

                // pass 5: softmax over the key axis, max-subtracted; fully masked rows → all zeros.
                for (int i = 0; i < queryLength; i++)
                {
                    Span<double> row = scores.AsSpan(i * kvLength, kvLength);
                    if (fullyMasked[i])
                    {
                        row.Clear();
                        continue;
                    }

                    Softmax(row, softmaxType);
                }

                CaptureQk(qkOutput, qkBase, scores, options, QkMatmulOutputMode.Probabilities);

                // pass 6: y = probabilities · v
                int yBase = (b * heads + h) * queryLength * valueHeadSize;
                for (int i = 0; i < queryLength; i++)
                {
                    for (int e = 0; e < valueHeadSize; e++)
                    {
                        double sum = 0;
                        for (int j = 0; j < kvLength; j++)
                        {
                            double p = scores[(i * kvLength) + j];
                            if (p != 0)
                            {
                                // Skipping exact zeros keeps a masked key's NaN/Inf value from leaking in (0·∞ = NaN).
                                sum += p * v[vBase + (j * valueHeadSize) + e];
                            }
                        }

                        y[yBase + (i * valueHeadSize) + e] = sum;
                    }
                }
            }
        }

        // pass 7: back to Q's element type and layout.
        Tensor output = g.IsPacked
            ? Tensor.FromDoubles(inputs.Query.DType, [batch, queryLength, heads * valueHeadSize], FromHeadMajor(y, batch, heads, queryLength, valueHeadSize))
            : Tensor.FromDoubles(inputs.Query.DType, [batch, heads, queryLength, valueHeadSize], y);
        Tensor presentKey = Tensor.FromDoubles(inputs.Key.DType, [batch, kvHeads, kvLength, headSize], k);
        Tensor presentValue = Tensor.FromDoubles(inputs.Value.DType, [batch, kvHeads, kvLength, valueHeadSize], v);
        Tensor? qk = qkOutput is null ? null : Tensor.FromDoubles(inputs.Query.DType, [batch, heads, queryLength, kvLength], qkOutput);
        return new AttentionResult(output, presentKey, presentValue, qk);
    }

    /// <summary>
    /// Every intermediate of one call in the 4-D layout, as float64: what an <see cref="IAttentionObserver"/> receives.
    /// </summary>
    public static AttentionCapture Capture(AttentionInputs inputs, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        AttentionGeometry g = AttentionGeometry.Resolve(inputs, options);
        var wide = new AttentionInputs(
            ToFloat64HeadMajor(inputs.Query, g, g.NumHeads, g.QueryLength, g.HeadSize),
            ToFloat64HeadMajor(inputs.Key, g, g.KvNumHeads, g.KvLength - g.PastLength, g.HeadSize),
            ToFloat64HeadMajor(inputs.Value, g, g.KvNumHeads, g.KvLength - g.PastLength, g.ValueHeadSize))
        {
            AttnMask = inputs.AttnMask,
            PastKey = inputs.PastKey,
            PastValue = inputs.PastValue,
            NonpadKvSeqlen = inputs.NonpadKvSeqlen,
        };
        AttentionOptions plain = options with { QNumHeads = null, KvNumHeads = null, Observer = null, ComputeQkMatmulOutput = true };
        var scores = new double[g.Batch * g.NumHeads * g.QueryLength * g.KvLength]; // (B, H, T, S)
        AttentionResult probabilities = Compute(wide, plain with { QkMatmulOutputMode = QkMatmulOutputMode.Probabilities }, scores);
        return new AttentionCapture(
            g,
            (Tensor<double>)wide.Query,
            (Tensor<double>)probabilities.PresentKey,
            (Tensor<double>)probabilities.PresentValue,
            new Tensor<double>([g.Batch, g.NumHeads, g.QueryLength, g.KvLength], scores),
            (Tensor<double>)probabilities.QkMatmulOutput!,
            (Tensor<double>)probabilities.Output);
    }

    private static Tensor ToFloat64HeadMajor(Tensor t, AttentionGeometry g, int heads, int length, int size) =>
        Tensor.FromDoubles(DType.Float64, [g.Batch, heads, length, size], ToHeadMajor(t, g.IsPacked, g.Batch, heads, length, size));

    /// <summary>Max-subtracted softmax of one row in place: p_j = exp(x_j − max) / Σ exp(x_k − max), optionally in a narrower type.</summary>
    /// <param name="row">The scores of one query; overwritten with probabilities.</param>
    /// <param name="precision">Null for exact float64; otherwise inputs, exponentials, sum and outputs are rounded to this type.</param>
    public static void Softmax(Span<double> row, DType? precision = null)
    {
        if (row.IsEmpty)
        {
            return;
        }

        double max = double.NegativeInfinity;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = RoundTo(row[j], precision);
            max = Math.Max(max, row[j]);
        }

        double sum = 0;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = RoundTo(Math.Exp(row[j] - max), precision);
            sum += row[j];
        }

        sum = RoundTo(sum, precision);
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = RoundTo(row[j] / sum, precision);
        }
    }

    private static double RoundTo(double value, DType? precision) => precision is DType t ? DTypes.Round(value, t) : value;

    private static DType? SoftmaxType(SoftmaxPrecision? precision) => precision switch
    {
        null => null,
        SoftmaxPrecision.Float => DType.Float32,
        SoftmaxPrecision.Float16 => DType.Float16,
        SoftmaxPrecision.BFloat16 => DType.BFloat16,
        _ => DType.Float64,
    };

    private static void CaptureQk(double[]? qkOutput, int offset, double[] scores, AttentionOptions options, QkMatmulOutputMode mode)
    {
        if (qkOutput is not null && options.QkMatmulOutputMode == mode)
        {
            scores.CopyTo(qkOutput, offset);
        }
    }

    /// <summary>(B, len, heads·size) or (B, heads, len, size) → float64 (B, heads, len, size).</summary>
    internal static double[] ToHeadMajor(Tensor t, bool packed, int batch, int heads, int length, int size)
    {
        double[] data = t.ToDoubleArray();
        return packed ? Transpose12(data, batch, length, heads, size) : data;
    }

    /// <summary>float64 (B, heads, len, size) → (B, len, heads·size).</summary>
    internal static double[] FromHeadMajor(double[] data, int batch, int heads, int length, int size) =>
        Transpose12(data, batch, heads, length, size);

    /// <summary>Swaps axes 1 and 2 of a (n0, n1, n2, n3) array.</summary>
    private static double[] Transpose12(double[] data, int n0, int n1, int n2, int n3)
    {
        var result = new double[data.Length];
        for (int a = 0; a < n0; a++)
        {
            for (int b = 0; b < n1; b++)
            {
                for (int c = 0; c < n2; c++)
                {
                    Array.Copy(data, (((a * n1) + b) * n2 + c) * n3, result, (((a * n2) + c) * n1 + b) * n3, n3);
                }
            }
        }

        return result;
    }

    /// <summary>concat(past (B, Hkv, P, size), new (B, Hkv, Skv, size)) along the sequence axis.</summary>
    private static double[] ConcatSequence(Tensor? past, double[] fresh, int batch, int kvHeads, int pastLength, int newLength, int size)
    {
        if (past is null)
        {
            return fresh;
        }

        double[] old = past.ToDoubleArray();
        int total = pastLength + newLength;
        var result = new double[batch * kvHeads * total * size];
        for (int bh = 0; bh < batch * kvHeads; bh++)
        {
            Array.Copy(old, bh * pastLength * size, result, bh * total * size, pastLength * size);
            Array.Copy(fresh, bh * newLength * size, result, ((bh * total) + pastLength) * size, newLength * size);
        }

        return result;
    }
}
