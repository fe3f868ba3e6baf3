namespace Heed.Explain;

/// <summary>The result of a soft key-value lookup: one query word against n key words, each with a value.</summary>
/// <param name="Query">The query word.</param>
/// <param name="Keys">The n key words.</param>
/// <param name="Values">The n values.</param>
/// <param name="QueryVector">q [d].</param>
/// <param name="KeyVectors">K [n, d].</param>
/// <param name="Scale">The factor on q·Kᵀ (1 = unscaled, as the seed does).</param>
/// <param name="Scores">scale·q·k_i for each key [n].</param>
/// <param name="Weights">softmax(scores) [n]: the attention each key gets; they sum to 1.</param>
/// <param name="Blended">Σ weights_i·values_i: the value the query looks up.</param>
public sealed record LookupResult(
    string Query,
    IReadOnlyList<string> Keys,
    double[] Values,
    double[] QueryVector,
    double[][] KeyVectors,
    double Scale,
    double[] Scores,
    double[] Weights,
    double Blended);

/// <summary>
/// The soft key-value lookup of seed 003: instead of the exact match of a dictionary, the query matches every key by the dot
/// product of their word vectors, softmax turns the matches into weights, and the result is the weighted sum of the values —
/// attention with one query, n keys and scalar values: softmax(q·Kᵀ)·v. It runs on Heed's attention.
/// </summary>
public static class KeyValueLookup
{
    /// <summary>Looks up <paramref name="query"/>. q [d], keys [n, d], values [n] → <see cref="LookupResult"/>.</summary>
    /// <exception cref="HeedException">The counts or vector sizes disagree; the message names the word.</exception>
    public static LookupResult Compute(string query, double[] queryVector, IReadOnlyList<string> keys, double[][] keyVectors, double[] values, double scale = 1, bool useReference = false)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(queryVector);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(keyVectors);
        ArgumentNullException.ThrowIfNull(values);
        if (keys.Count == 0) throw new HeedException("keys: at least one key is needed");
        if (values.Length != keys.Count) throw new HeedException($"values: {values.Length} values for {keys.Count} keys; expected one value per key");
        if (keyVectors.Length != keys.Count) throw new HeedException($"{keyVectors.Length} key vectors for {keys.Count} keys");
        int d = queryVector.Length;
        for (int i = 0; i < keys.Count; i++)
        {
            if (keyVectors[i].Length != d) throw new HeedException($"the vector of key \"{keys[i]}\" has {keyVectors[i].Length} numbers but the query \"{query}\" has {d}");
        }

        int n = keys.Count;
        var inputs = new AttentionInputs(
            Tensor.FromDoubles(DType.Float64, [1, 1, 1, d], queryVector),
            Tensor.FromDoubles(DType.Float64, [1, 1, n, d], keyVectors.SelectMany(k => k).ToArray()),
            Tensor.FromDoubles(DType.Float64, [1, 1, n, 1], values));
        var options = new AttentionOptions { Scale = scale, UseReference = useReference, ComputeQkMatmulOutput = true };
        AttentionResult scores = Attention.Compute(inputs, options with { QkMatmulOutputMode = QkMatmulOutputMode.Scaled });
        AttentionResult weights = Attention.Compute(inputs, options with { QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        return new LookupResult(
            query, keys.ToArray(), values.ToArray(), queryVector.ToArray(), keyVectors.Select(k => k.ToArray()).ToArray(), scale,
            scores.QkMatmulOutput!.ToDoubleArray(), weights.QkMatmulOutput!.ToDoubleArray(), weights.Output.ToDoubleArray()[0]);
    }
}
