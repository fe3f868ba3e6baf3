using System.ComponentModel;
using Heed.Explain;
using Heed.Explain.Seeds;

namespace Heed.Server.Services;

/// <summary>
/// A soft key-value lookup (seed 003), with the options of <c>heed lookup</c>: a query word matched against key words by
/// the dot product of their vectors, softmax into weights, and the values blended by those weights. Words are turned into
/// vectors by <see cref="Vectors"/>, a model's embedding table, or the seed's built-in vectors; every field left out takes
/// the seed's value: <c>kv_lookup("fruit", ["apple", "banana", "chair"], [10, 5, 2])</c>.
/// </summary>
public sealed record LookupRequest
{
    /// <summary>The query word; default "fruit".</summary>
    [Description("The query word (default \"fruit\"), looked up in vectors, the model's embedding table, or the built-in example vectors.")]
    public string? Query { get; init; }

    /// <summary>The query vector (instead of looking the word up).</summary>
    [Description("The query vector, instead of looking the query word up.")]
    public double[]? QueryVector { get; init; }

    /// <summary>The key words; default apple, banana, chair.</summary>
    [Description("The key words (default apple, banana, chair).")]
    public string[]? Keys { get; init; }

    /// <summary>The key vectors (instead of looking the words up), one row per key.</summary>
    [Description("The key vectors, one row per key, instead of looking the key words up.")]
    public double[][]? KeyVectors { get; init; }

    /// <summary>One number per key; default 10, 5, 2.</summary>
    [Description("One number per key (default 10, 5, 2). For vector values use POST /api/v1/attention.")]
    public double[]? Values { get; init; }

    /// <summary>Word vectors: word → vector.</summary>
    [Description("Word vectors to look words up in: {\"apple\": [..], ...} (default: small made-up vectors for the seed's example).")]
    public Dictionary<string, double[]>? Vectors { get; init; }

    /// <summary>A model id whose embedding table gives the word vectors.</summary>
    [Description("A model id whose embedding table gives the word vectors, instead of vectors: a heed-toy model's words, or a transformer's token embeddings (a word split into several tokens gets their mean), as 'heed lookup --model'.")]
    public string? Model { get; init; }

    /// <summary>Divide the dot products by √d.</summary>
    [Description("Divide the dot products by sqrt(d) (the seed's lookup does not).")]
    public bool Scaled { get; init; }

    /// <summary>Run on the float64 reference implementation.</summary>
    [Description("Run on the float64 reference implementation.")]
    public bool Reference { get; init; }
}

/// <summary>The lookup's scores, weights and blended value (Heed.Explain's <see cref="LookupResult"/>) and where the vectors came from.</summary>
/// <param name="Query">The query word.</param>
/// <param name="Keys">The key labels.</param>
/// <param name="Values">The values, one per key.</param>
/// <param name="Vectors">Where the word vectors came from.</param>
/// <param name="QueryVector">q [d].</param>
/// <param name="KeyVectors">K [n, d].</param>
/// <param name="Scale">The factor on the dot products.</param>
/// <param name="Scores">scale · q·k_i for each key.</param>
/// <param name="Weights">softmax(scores); they sum to 1.</param>
/// <param name="Blended">Σ_i weight_i · value_i.</param>
public sealed record LookupResponse(string Query, IReadOnlyList<string> Keys, double[] Values, string Vectors, double[] QueryVector, double[][] KeyVectors, double Scale, double[] Scores, double[] Weights, double Blended)
{
    /// <summary>With a transformer model: the token pieces whose embeddings each word's vector averages.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Pieces { get; init; }
}

/// <summary>Runs the lookup with Heed.Explain's <see cref="KeyValueLookup"/> (the same code as <c>heed lookup</c>).</summary>
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

    /// <summary>q [d], K [n, d], values [n] → scores [n], weights [n], blended value.</summary>
    /// <exception cref="HeedException">A word has no vector, the sizes disagree, or an input is over a limit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public LookupResponse Lookup(LookupRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Model is not null && request.Vectors is not null)
        {
            throw new HeedException("model and vectors: give one source of word vectors, not both");
        }

        string query = request.Query ?? (request.QueryVector is null ? FruitLookup.Query : "query");
        IReadOnlyList<string> keys = request.Keys ?? (request.KeyVectors is null ? FruitLookup.Keys : Enumerable.Range(0, request.KeyVectors.Length).Select(i => $"k{i}").ToArray());
        double[] values = request.Values ?? (request.Keys is null && request.KeyVectors is null ? FruitLookup.Values() : throw new HeedException("values: required, one number per key"));
        IReadOnlyList<WordPieces>? pieces = null;
        WordVectors table = request.Model is string model ? Vectors(model, query, keys, out pieces)
            : request.Vectors is { } vectors ? new WordVectors(vectors, "the request's vectors")
            : FruitLookup.Vectors();
        double[] queryVector = request.QueryVector ?? table.Get(query, "query");
        double[][] keyVectors = request.KeyVectors ?? keys.Select(k => table.Get(k, "keys")).ToArray();
        _codec.CheckMatrix("keyVectors", keyVectors);
        _codec.CheckShape("queryVector", [queryVector.Length]);
        _codec.CheckShape("values", [values.Length]);
        if (request.Keys is not null && request.KeyVectors is not null && request.Keys.Length != request.KeyVectors.Length)
        {
            throw new HeedException($"keys: {request.Keys.Length} labels for {request.KeyVectors.Length} key vectors");
        }

        if (values.Length != keys.Count)
        {
            throw new HeedException($"values: {values.Length} numbers for {keys.Count} keys; expected one per key");
        }

        double scale = request.Scaled ? 1 / Math.Sqrt(queryVector.Length) : 1;
        cancellation.ThrowIfCancellationRequested();
        LookupResult r = KeyValueLookup.Compute(query, queryVector, keys, keyVectors, values, scale, request.Reference);
        string source = request.QueryVector is not null && request.KeyVectors is not null ? "the request's query and key vectors" : table.Source;
        return new LookupResponse(r.Query, r.Keys, r.Values, source, r.QueryVector, r.KeyVectors, r.Scale, r.Scores, r.Weights, r.Blended)
        {
            Pieces = pieces?.ToDictionary(p => p.Word, p => p.Pieces),
        };
    }

    // A model's word vectors: a toy model's embedding table, or a transformer's token embeddings (a word split into
    // several tokens gets the mean of theirs, as 'heed lookup --model' does).
    private WordVectors Vectors(string model, string query, IReadOnlyList<string> keys, out IReadOnlyList<WordPieces>? pieces)
    {
        pieces = null;
        if (_models.Get(model).Format == "heed-toy")
        {
            return new WordVectors(_models.LoadToy(model).Embeddings, $"model {model}'s embeddings");
        }

        LoadedModel loaded = _models.LoadModel(model);
        IEnumerable<(string, string)> words = keys.Select(w => (w, "keys")).Prepend((query, "query"));
        WordVectors table = ModelEmbeddings.Vectors(loaded.Model, loaded.Tokenizer, words, $"the token embeddings of {model}", out IReadOnlyList<WordPieces> split);
        pieces = split;
        return table;
    }
}
