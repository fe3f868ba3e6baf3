namespace Heed.Explain;

/// <summary>Builds an <see cref="AttentionTrace"/> by running Heed's attention on projected embeddings.</summary>
public static class TraceBuilder
{
    /// <summary>
    /// Projects the embeddings, runs single-head attention through <see cref="Attention.Compute"/> and records every step.
    /// embeddings [T, C], wq [C, D], wk [C, D], wv [C, Dv] → trace.
    /// </summary>
    /// <param name="tokens">T token labels.</param>
    /// <param name="embeddings">E [T, C].</param>
    /// <param name="wq">W_Q [C, D].</param>
    /// <param name="wk">W_K [C, D].</param>
    /// <param name="wv">W_V [C, Dv].</param>
    /// <param name="scale">The factor on Q·Kᵀ; null = 1/√D.</param>
    /// <param name="useReference">Runs the float64 reference rather than the fastest kernel.</param>
    /// <param name="causal">Masks the future: token i attends only to tokens 0..i (decoder self-attention).</param>
    /// <exception cref="HeedException">The sizes do not fit together.</exception>
    public static AttentionTrace Build(IReadOnlyList<string> tokens, double[][] embeddings, double[][] wq, double[][] wk, double[][] wv, double? scale = null, bool useReference = false, bool causal = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.Length != tokens.Count)
        {
            throw new HeedException($"there are {tokens.Count} tokens but {embeddings.Length} embedding rows");
        }

        int width = CheckMatrix("embeddings", embeddings, null);
        int headSize = CheckMatrix("W_Q", wq, width);
        int keySize = CheckMatrix("W_K", wk, width);
        int valueSize = CheckMatrix("W_V", wv, width);
        if (keySize != headSize)
        {
            throw new HeedException($"W_K has {keySize} columns but W_Q has {headSize}: queries and keys must have the same size");
        }

        double[][] q = MatMul(embeddings, wq), k = MatMul(embeddings, wk), v = MatMul(embeddings, wv);
        int count = tokens.Count;
        var inputs = new AttentionInputs(
            Tensor.FromDoubles(DType.Float64, [1, 1, count, headSize], Flatten(q)),
            Tensor.FromDoubles(DType.Float64, [1, 1, count, headSize], Flatten(k)),
            Tensor.FromDoubles(DType.Float64, [1, 1, count, valueSize], Flatten(v)));
        double effectiveScale = scale ?? 1.0 / Math.Sqrt(headSize);
        var options = new AttentionOptions { Scale = effectiveScale, UseReference = useReference, ComputeQkMatmulOutput = true, IsCausal = causal };
        // Mode 2 (after softcap and bias) so that masked scores read −∞, as the softmax saw them.
        AttentionResult scores = Attention.Compute(inputs, options with { QkMatmulOutputMode = causal ? QkMatmulOutputMode.Biased : QkMatmulOutputMode.Scaled });
        AttentionResult weights = Attention.Compute(inputs, options with { QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        return new AttentionTrace
        {
            Tokens = tokens.ToArray(),
            Embeddings = embeddings,
            WQ = wq,
            WK = wk,
            WV = wv,
            Q = q,
            K = k,
            V = v,
            Scale = effectiveScale,
            Scores = Rows(scores.QkMatmulOutput!.ToDoubleArray(), count),
            Weights = Rows(weights.QkMatmulOutput!.ToDoubleArray(), count),
            Outputs = Rows(weights.Output.ToDoubleArray(), valueSize),
            Reference = useReference,
            Causal = causal,
        };
    }

    private static int CheckMatrix(string name, double[][] m, int? rows)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (rows is int r && m.Length != r)
        {
            throw new HeedException($"{name} has {m.Length} rows; expected {r} (the embedding width)");
        }

        if (m.Length == 0)
        {
            throw new HeedException($"{name} is empty");
        }

        int cols = m[0].Length;
        for (int i = 0; i < m.Length; i++)
        {
            if (m[i].Length != cols)
            {
                throw new HeedException($"{name} row {i} has {m[i].Length} values; expected {cols} like row 0");
            }
        }

        return cols;
    }

    private static double[][] MatMul(double[][] a, double[][] b)
    {
        var c = new double[a.Length][];
        for (int i = 0; i < a.Length; i++)
        {
            c[i] = new double[b[0].Length];
            for (int j = 0; j < b[0].Length; j++)
            {
                for (int n = 0; n < b.Length; n++)
                {
                    c[i][j] += a[i][n] * b[n][j];
                }
            }
        }

        return c;
    }

    private static double[] Flatten(double[][] m) => m.SelectMany(row => row).ToArray();

    private static double[][] Rows(double[] flat, int width)
    {
        var rows = new double[flat.Length / Math.Max(width, 1)][];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = flat.AsSpan(i * width, width).ToArray();
        }

        return rows;
    }
}
