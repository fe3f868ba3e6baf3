namespace Heed.Reference;

/// <summary>
/// The executable specification of the backward pass of Heed's attention: given dY, the gradients dQ, dK and dV of the ONNX
/// <c>Attention</c> operator's forward (<see cref="ReferenceAttention"/>), with plain loops and float64 accumulators, every
/// intermediate materialized, in numbered passes. The fast backward kernel is tested against this class, and this class
/// against central finite differences of the reference forward.
/// </summary>
/// <remarks>
/// With s = scale·q·kᵀ, t = softcap·tanh(s/softcap) (or s), z = t + bias, P = softmax(z), Y = P·V:
/// dV = Pᵀ·dY; dP = dY·Vᵀ; dZ = P ∘ (dP − rowsum(P ∘ dP)); dS = dZ ∘ (1 − tanh²(s/softcap)) (or dZ);
/// dQ = scale·dS·K; dK = scale·dSᵀ·Q. The bias carries no gradient (masks are not learned); a fully masked row has P = 0 and
/// so gives zero gradients. With GQA the gradients of the query heads that share a kv head are summed into it.
/// softmax_precision does not apply: the backward is computed in float64 from the exact probabilities.
/// </remarks>
public static class ReferenceAttentionBackward
{
    /// <summary>
    /// dQ, dK, dV for a loss whose gradient with respect to Y is <paramref name="gradOutput"/>.
    /// Q [B, H, T, D], K [B, Hkv, S, D], V [B, Hkv, S, Dv], dY [B, H, T, Dv] → Y, dQ, dK, dV in their inputs' shapes
    /// (3-D inputs: dY [B, T, H·Dv]).
    /// </summary>
    /// <exception cref="HeedException">An input breaks a rule of the semantics, dY does not have Y's shape, or a past cache is given (the cache is not differentiated).</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired (looked at before each (batch, head)).</exception>
    public static AttentionGradients Compute(AttentionInputs inputs, Tensor gradOutput, AttentionOptions? options = null) =>
        Compute(inputs, gradOutput, options, logSumExp: null);

    /// <summary>
    /// As the public overload; <paramref name="logSumExp"/>, when given ([B, H, T]), also receives each row's log-sum-exp of its
    /// biased scores, +∞ for a row whose bias is −∞ everywhere (what <see cref="Attention.ComputeForBackward"/> returns).
    /// </summary>
    internal static AttentionGradients Compute(AttentionInputs inputs, Tensor gradOutput, AttentionOptions? options, double[]? logSumExp)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(gradOutput);
        options ??= new AttentionOptions();
        options.Cancellation.ThrowIfCancellationRequested();
        AttentionGeometry g = Check(inputs, gradOutput, options);
        int batch = g.Batch, heads = g.NumHeads, kvHeads = g.KvNumHeads;
        int queryLength = g.QueryLength, kvLength = g.KvLength, headSize = g.HeadSize, valueHeadSize = g.ValueHeadSize;
        if (Tensor.LengthOrNull([queryLength, kvLength]) is null)
        {
            throw new HeedException(
                $"the reference materializes each head's [T, S] = [{queryLength}, {kvLength}] scores, {(long)queryLength * kvLength} elements, more than one array can hold ({Array.MaxLength}); run this call without the reference");
        }

        // pass 0: every input to float64 in the 4-D layout (B, heads, len, size).
        double[] q = ReferenceAttention.ToHeadMajor(inputs.Query, g.IsPacked, batch, heads, queryLength, headSize);          // (B, H, T, D)
        double[] k = ReferenceAttention.ToHeadMajor(inputs.Key, g.IsPacked, batch, kvHeads, kvLength, headSize);          // (B, Hkv, S, D)
        double[] v = ReferenceAttention.ToHeadMajor(inputs.Value, g.IsPacked, batch, kvHeads, kvLength, valueHeadSize);   // (B, Hkv, S, Dv)
        double[] dy = ReferenceAttention.ToHeadMajor(gradOutput, g.IsPacked, batch, heads, queryLength, valueHeadSize);   // (B, H, T, Dv)

        var bias = new AttentionBias(inputs, options, g);
        double softcap = options.Softcap;
        var y = new double[batch * heads * queryLength * valueHeadSize]; // (B, H, T, Dv)
        var dq = new double[q.Length];                                     // (B, H, T, D)
        var dk = new double[k.Length];                                     // (B, Hkv, S, D)
        var dv = new double[v.Length];                                     // (B, Hkv, S, Dv)
        var p = new double[queryLength * kvLength];                        // (T, S) for one (b, h)
        var capSlope = new double[queryLength * kvLength];                 // (T, S): dt/ds of the softcap
        var dp = new double[queryLength * kvLength];                       // (T, S)

        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                int kvHead = g.KvHeadOf(h);
                int qBase = (b * heads + h) * queryLength * headSize;
                int yBase = (b * heads + h) * queryLength * valueHeadSize;
                int kBase = (b * kvHeads + kvHead) * kvLength * headSize;
                int vBase = (b * kvHeads + kvHead) * kvLength * valueHeadSize;

                // pass 1: scores s = scale · q·kᵀ, softcapped: t = softcap·tanh(s/softcap), whose slope dt/ds = 1 − tanh².
                for (int i = 0; i < queryLength; i++)
                {
                    for (int j = 0; j < kvLength; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < headSize; d++)
                        {
                            dot += q[qBase + (i * headSize) + d] * k[kBase + (j * headSize) + d];
                        }

                        double s = g.Scale * dot;
                        double slope = 1;
                        if (softcap > 0)
                        {
                            double tanh = Math.Tanh(s / softcap);
                            s = softcap * tanh;
                            slope = 1 - (tanh * tanh);
                        }

                        p[(i * kvLength) + j] = s;
                        capSlope[(i * kvLength) + j] = slope;
                    }
                }

                // pass 2: z = t + bias, softmax over the keys (max-subtracted); a row whose bias is −∞ everywhere gets P = 0.
                for (int i = 0; i < queryLength; i++)
                {
                    bool allMasked = true;
                    for (int j = 0; j < kvLength; j++)
                    {
                        double add = bias.At(b, h, i, j);
                        allMasked &= double.IsNegativeInfinity(add);
                        p[(i * kvLength) + j] += add;
                    }

                    Span<double> row = p.AsSpan(i * kvLength, kvLength);
                    if (logSumExp is not null)
                    {
                        logSumExp[(((b * heads) + h) * queryLength) + i] = allMasked ? double.PositiveInfinity : LogSumExp(row);
                    }

                    if (allMasked)
                    {
                        row.Clear();
                    }
                    else
                    {
                        ReferenceAttention.Softmax(row);
                    }
                }

                // pass 3: y = P·v (exact zeros skipped, so a masked key's NaN/∞ value cannot leak).
                for (int i = 0; i < queryLength; i++)
                {
                    for (int e = 0; e < valueHeadSize; e++)
                    {
                        double sum = 0;
                        for (int j = 0; j < kvLength; j++)
                        {
                            double pij = p[(i * kvLength) + j];
                            if (pij != 0)
                            {
                                sum += pij * v[vBase + (j * valueHeadSize) + e];
                            }
                        }

                        y[yBase + (i * valueHeadSize) + e] = sum;
                    }
                }

                // pass 4: dV[kv(h)] += Pᵀ·dY (summed over the query heads that share the kv head).
                for (int j = 0; j < kvLength; j++)
                {
                    for (int i = 0; i < queryLength; i++)
                    {
                        double pij = p[(i * kvLength) + j];
                        if (pij == 0)
                        {
                            continue;
                        }

                        for (int e = 0; e < valueHeadSize; e++)
                        {
                            dv[vBase + (j * valueHeadSize) + e] += pij * dy[yBase + (i * valueHeadSize) + e];
                        }
                    }
                }

                // pass 5: dP = dY·vᵀ, where P is not zero (elsewhere it is multiplied by 0 below).
                for (int i = 0; i < queryLength; i++)
                {
                    for (int j = 0; j < kvLength; j++)
                    {
                        double dot = 0;
                        if (p[(i * kvLength) + j] != 0)
                        {
                            for (int e = 0; e < valueHeadSize; e++)
                            {
                                dot += dy[yBase + (i * valueHeadSize) + e] * v[vBase + (j * valueHeadSize) + e];
                            }
                        }

                        dp[(i * kvLength) + j] = dot;
                    }
                }

                // pass 6: softmax backward dZ = P ∘ (dP − Σ_j P·dP), then through the softcap: dS = dZ ∘ dt/ds (kept in dp).
                for (int i = 0; i < queryLength; i++)
                {
                    double delta = 0;
                    for (int j = 0; j < kvLength; j++)
                    {
                        delta += p[(i * kvLength) + j] * dp[(i * kvLength) + j];
                    }

                    for (int j = 0; j < kvLength; j++)
                    {
                        int at = (i * kvLength) + j;
                        dp[at] = p[at] * (dp[at] - delta) * capSlope[at];
                    }
                }

                // pass 7: dQ = scale·dS·k, dK[kv(h)] += scale·dSᵀ·q (exact zeros skipped, as in pass 3).
                for (int i = 0; i < queryLength; i++)
                {
                    for (int j = 0; j < kvLength; j++)
                    {
                        double ds = g.Scale * dp[(i * kvLength) + j];
                        if (ds == 0)
                        {
                            continue;
                        }

                        for (int d = 0; d < headSize; d++)
                        {
                            dq[qBase + (i * headSize) + d] += ds * k[kBase + (j * headSize) + d];
                            dk[kBase + (j * headSize) + d] += ds * q[qBase + (i * headSize) + d];
                        }
                    }
                }
            }
        }

        // pass 8: back to each input's element type and layout.
        return new AttentionGradients(
            Output(inputs.Query.DType, y, g, heads, queryLength, valueHeadSize),
            Output(inputs.Query.DType, dq, g, heads, queryLength, headSize),
            Output(inputs.Key.DType, dk, g, kvHeads, kvLength, headSize),
            Output(inputs.Value.DType, dv, g, kvHeads, kvLength, valueHeadSize));
    }

    /// <summary>
    /// The rules the backward adds to the forward's: no past cache (the cache is not differentiated), and dY with Y's shape
    /// ([B, H, T, Dv], or [B, T, H·Dv] for 3-D inputs) and a floating-point type.
    /// </summary>
    /// <exception cref="HeedException">A rule is broken.</exception>
    public static AttentionGeometry Check(AttentionInputs inputs, Tensor gradOutput, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(options);
        AttentionGeometry g = AttentionGeometry.Resolve(inputs, options);
        if (inputs.PastKey is not null || inputs.PastValue is not null)
        {
            throw new HeedException("the backward pass takes no past_key/past_value: the cache is not differentiated; concatenate it into K and V instead");
        }

        int[] expected = g.IsPacked
            ? [g.Batch, g.QueryLength, g.NumHeads * g.ValueHeadSize]
            : [g.Batch, g.NumHeads, g.QueryLength, g.ValueHeadSize];
        if (!gradOutput.Shape.SequenceEqual(expected))
        {
            throw new HeedException($"dY (grad output) has shape {gradOutput.ShapeText}; expected Y's shape {Tensor.FormatShape(expected)}");
        }

        if (gradOutput.DType is not (DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64))
        {
            throw new HeedException($"dY (grad output) must be float32, float16, bfloat16 or float64; got {DTypes.Name(gradOutput.DType)}");
        }

        return g;
    }

    /// <summary>log Σ exp(z_j) with the largest z taken out first (masked keys, z = −∞, add nothing).</summary>
    private static double LogSumExp(ReadOnlySpan<double> row)
    {
        double max = double.NegativeInfinity;
        foreach (double z in row) max = Math.Max(max, z);
        double sum = 0;
        foreach (double z in row) sum += Math.Exp(z - max);
        return max + Math.Log(sum);
    }

    private static Tensor Output(DType type, double[] headMajor, AttentionGeometry g, int heads, int length, int size) => g.IsPacked
        ? Tensor.FromDoubles(type, [g.Batch, length, heads * size], ReferenceAttention.FromHeadMajor(headMajor, g.Batch, heads, length, size))
        : Tensor.FromDoubles(type, [g.Batch, heads, length, size], headMajor);
}
