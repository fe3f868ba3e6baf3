using System.ComponentModel;

namespace Heed.Server.Services;

/// <summary>
/// A soft key-value lookup (seed 003): a query matched against keys by dot product, softmax into attention scores, and the
/// values blended by those scores. Words are turned into vectors by <see cref="Vectors"/> or a model's embedding table.
/// </summary>
public sealed record LookupRequest
{
    /// <summary>The query word (needs vectors or a model).</summary>
    [Description("The query word, looked up in vectors or the model's embedding table.")]
    public string? Query { get; init; }

    /// <summary>The query vector (instead of a word).</summary>
    [Description("The query vector, instead of a word.")]
    public double[]? QueryVector { get; init; }

    /// <summary>The key words.</summary>
    [Description("The key words.")]
    public string[]? Keys { get; init; }

    /// <summary>The key vectors (instead of words), one row per key.</summary>
    [Description("The key vectors, one row per key, instead of words.")]
    public double[][]? KeyVectors { get; init; }

    /// <summary>One number per key (as the seed's [10, 5, 2]).</summary>
    [Description("One number per key, as in the seed's kv_lookup(\"fruit\", [\"apple\", \"banana\", \"chair\"], [10, 5, 2]).")]
    public double[]? Values { get; init; }

    /// <summary>One vector per key, instead of numbers.</summary>
    [Description("One vector per key, instead of numbers.")]
    public double[][]? ValueVectors { get; init; }

    /// <summary>Word vectors: word → vector.</summary>
    [Description("Word vectors to look words up in: {\"apple\": [..], ...}.")]
    public Dictionary<string, double[]>? Vectors { get; init; }

    /// <summary>A model id whose embedding table gives the word vectors.</summary>
    [Description("A model id whose embedding table gives the word vectors (default: vectors).")]
    public string? Model { get; init; }

    /// <summary>Divide the dot products by √d.</summary>
    [Description("Divide the dot products by sqrt(d) (the seed's first version does not).")]
    public bool Scaled { get; init; }
}

/// <summary>The lookup's scores, weights and blended value.</summary>
/// <param name="Keys">The key labels.</param>
/// <param name="Scores">scale · q·k_i for each key.</param>
/// <param name="Weights">softmax(scores).</param>
/// <param name="Blended">Σ_i weight_i · value_i (one number per value column).</param>
/// <param name="Scale">The factor on the dot products.</param>
public sealed record LookupResponse(IReadOnlyList<string> Keys, double[] Scores, double[] Weights, double[] Blended, double Scale);

/// <summary>Runs the lookup as one query row of <see cref="Attention.Compute"/>.</summary>
public sealed class LookupService
{
    private readonly ModelCatalog _models;
    private readonly TensorCodec _codec;

    /// <summary>Creates the service.</summary>
    public LookupService(ModelCatalog models, TensorCodec codec)
    {
        _models = models;
        _codec = codec;
    }

    /// <summary>q [D], K [N, D], V [N, Dv] → scores [N], weights [N], blended [Dv].</summary>
    /// <exception cref="HeedException">A word has no vector, the sizes disagree, or an input is over a limit.</exception>
    public LookupResponse Lookup(LookupRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        IReadOnlyDictionary<string, double[]>? table = request.Model is null ? request.Vectors : _models.LoadToy(request.Model).Embeddings;
        double[] Word(string field, string word)
        {
            if (table is null)
            {
                throw new HeedException($"{field}: '{word}' is a word, but neither vectors nor model is given to look it up");
            }

            return table.TryGetValue(word, out double[]? v) || table.TryGetValue(word.ToLowerInvariant(), out v)
                ? v
                : throw new HeedException($"{field}: no vector for '{word}'");
        }

        double[] query = request.QueryVector ?? (request.Query is null ? throw new HeedException("query: give a word (query) or a vector (queryVector)") : Word("query", request.Query));
        double[][] keys = request.KeyVectors ?? request.Keys?.Select(k => Word("keys", k)).ToArray() ?? throw new HeedException("keys: give words (keys) or vectors (keyVectors)");
        string[] labels = request.Keys ?? Enumerable.Range(0, keys.Length).Select(i => $"k{i}").ToArray();
        double[][] values = request.ValueVectors ?? request.Values?.Select(v => new[] { v }).ToArray() ?? throw new HeedException("values: give numbers (values) or vectors (valueVectors)");
        int width = _codec.CheckMatrix("keys", keys);
        int valueWidth = _codec.CheckMatrix("values", values);
        _codec.CheckShape("query", [query.Length]);
        if (query.Length != width)
        {
            throw new HeedException($"query: {query.Length} components but the keys have {width}");
        }

        if (values.Length != keys.Length)
        {
            throw new HeedException($"values: {values.Length} given for {keys.Length} keys; expected one per key");
        }

        double scale = request.Scaled ? 1.0 / Math.Sqrt(width) : 1.0;
        var inputs = new AttentionInputs(
            Tensor.FromDoubles(DType.Float64, [1, 1, 1, width], query),
            Tensor.FromDoubles(DType.Float64, [1, 1, keys.Length, width], keys.SelectMany(r => r).ToArray()),
            Tensor.FromDoubles(DType.Float64, [1, 1, keys.Length, valueWidth], values.SelectMany(r => r).ToArray()));
        var options = new AttentionOptions { Scale = scale, ComputeQkMatmulOutput = true };
        AttentionResult scores = Attention.Compute(inputs, options with { QkMatmulOutputMode = QkMatmulOutputMode.Scaled });
        AttentionResult weights = Attention.Compute(inputs, options with { QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        return new LookupResponse(labels, scores.QkMatmulOutput!.ToDoubleArray(), weights.QkMatmulOutput!.ToDoubleArray(), weights.Output.ToDoubleArray(), scale);
    }
}
