using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Heed.Explain;
using Heed.Explain.Seeds;

namespace Heed.Server.Services;

/// <summary>One head of a toy model: its projections W_Q [C, D], W_K [C, D], W_V [C, Dv] and its score scale.</summary>
/// <param name="Wq">W_Q [C, D].</param>
/// <param name="Wk">W_K [C, D].</param>
/// <param name="Wv">W_V [C, Dv].</param>
/// <param name="Scale">The factor on Q·Kᵀ; null = 1/√D.</param>
public sealed record ToyHead(double[][] Wq, double[][] Wk, double[][] Wv, double? Scale);

/// <summary>
/// An attention-only model small enough to read: word embeddings and layers of H single-head attentions each. Layer l's heads read
/// X_l [T, C_l]; their outputs, side by side, are X_{l+1} [T, Σ Dv]. Stored as <c>NAME.heed-toy.json</c>:
/// <c>{"format": "heed-toy-1", "embeddings": {"word": [..]}, "unknown": "hash" | "error",
/// "layers": [[{"wq": [[..]], "wk": [[..]], "wv": [[..]], "scale": 1.0}]]}</c>.
/// </summary>
public sealed partial class ToyModel
{
    private const long MaxFileBytes = 16 * 1024 * 1024;
    private readonly Dictionary<string, double[]> _embeddings;

    private ToyModel(string id, Dictionary<string, double[]> embeddings, bool hashUnknown, IReadOnlyList<IReadOnlyList<ToyHead>> layers)
    {
        Id = id;
        _embeddings = embeddings;
        HashUnknown = hashUnknown;
        Layers = layers;
        Width = embeddings.Values.First().Length;
        int width = Width;
        for (int l = 0; l < layers.Count; l++)
        {
            if (layers[l].Count == 0)
            {
                throw new HeedException($"model {id}: layer {l} has no heads");
            }

            if (layers[l].Count != layers[0].Count)
            {
                throw new HeedException($"model {id}: layer {l} has {layers[l].Count} heads but layer 0 has {layers[0].Count}; every layer needs the same number, as in a transformer");
            }

            int next = 0;
            for (int h = 0; h < layers[l].Count; h++)
            {
                ToyHead head = layers[l][h];
                Check(id, l, h, "wq", head.Wq, width);
                Check(id, l, h, "wk", head.Wk, width);
                Check(id, l, h, "wv", head.Wv, width);
                if (head.Wq[0].Length != head.Wk[0].Length)
                {
                    throw new HeedException($"model {id}: layer {l} head {h}: wk has {head.Wk[0].Length} columns but wq has {head.Wq[0].Length}");
                }

                next += head.Wv[0].Length;
            }

            width = next;
        }
    }

    /// <summary>The model's id.</summary>
    public string Id { get; }

    /// <summary>C, the embedding width.</summary>
    public int Width { get; }

    /// <summary>Whether unknown words get a fixed vector from a hash of the word (else they are an error).</summary>
    public bool HashUnknown { get; }

    /// <summary>The layers, each a list of heads.</summary>
    public IReadOnlyList<IReadOnlyList<ToyHead>> Layers { get; }

    /// <summary>The embedding table (word → vector).</summary>
    public IReadOnlyDictionary<string, double[]> Embeddings => _embeddings;

    /// <summary>The built-in model of seed 000: the six words' 2-d embeddings and Step 3's W_Q, W_K, W_V, unscaled.</summary>
    public static ToyModel Seed()
    {
        var embeddings = new Dictionary<string, double[]>(StringComparer.Ordinal);
        double[][] rows = CatSatOnTheMat.Embeddings();
        for (int i = 0; i < CatSatOnTheMat.Tokens.Count; i++)
        {
            embeddings[CatSatOnTheMat.Tokens[i].ToLowerInvariant()] = rows[i];
        }

        return new ToyModel(ModelCatalog.SeedModelId, embeddings, true, [[new ToyHead(CatSatOnTheMat.WQ(), CatSatOnTheMat.WK(), CatSatOnTheMat.WV(), 1.0)]]);
    }

    /// <summary>Reads a <c>*.heed-toy.json</c> file.</summary>
    /// <exception cref="HeedException">The file is too large or malformed.</exception>
    public static ToyModel Load(string path, string id)
    {
        if (new FileInfo(path).Length > MaxFileBytes)
        {
            throw new HeedException($"model {id}: larger than {MaxFileBytes} bytes");
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new HeedException($"model {id}: not valid JSON: {ex.Message}");
        }

        if (root?["format"]?.GetValue<string>() != "heed-toy-1")
        {
            throw new HeedException($"model {id}: format must be \"heed-toy-1\"");
        }

        try
        {
            var embeddings = root["embeddings"]?.AsObject().ToDictionary(p => p.Key, p => p.Value!.Deserialize<double[]>()!, StringComparer.Ordinal)
                ?? throw new HeedException($"model {id}: embeddings missing");
            if (embeddings.Count == 0 || embeddings.Values.Any(v => v.Length != embeddings.Values.First().Length || v.Length == 0))
            {
                throw new HeedException($"model {id}: embeddings must be non-empty vectors of one width");
            }

            string unknown = root["unknown"]?.GetValue<string>() ?? "error";
            var layers = root["layers"]?.AsArray().Select(layer => (IReadOnlyList<ToyHead>)layer!.AsArray().Select(head => new ToyHead(
                head!["wq"].Deserialize<double[][]>()!,
                head["wk"].Deserialize<double[][]>()!,
                head["wv"].Deserialize<double[][]>()!,
                head["scale"]?.GetValue<double>())).ToArray()).ToArray()
                ?? throw new HeedException($"model {id}: layers missing");
            if (layers.Length == 0)
            {
                throw new HeedException($"model {id}: layers must hold at least one layer");
            }

            return new ToyModel(id, embeddings, unknown == "hash", layers);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentNullException or NullReferenceException or FormatException)
        {
            throw new HeedException($"model {id}: malformed: {ex.Message}");
        }
    }

    /// <summary>The model's configuration: width, layers × heads with each head's sizes and scale, vocabulary size.</summary>
    public ModelConfiguration Config() => new()
    {
        Id = Id,
        Format = "heed-toy",
        Architecture = "toy",
        Width = Width,
        NumLayers = Layers.Count,
        NumHeads = Layers.Count > 0 ? Layers[0].Count : 0,
        NumKvHeads = Layers.Count > 0 ? Layers[0].Count : 0,
        VocabularySize = _embeddings.Count,
        UnknownWords = HashUnknown ? "hash" : "error",
        Layers = [.. Layers.Select(layer => (IReadOnlyList<HeadConfiguration>)[.. layer.Select(h => new HeadConfiguration(h.Wq[0].Length, h.Wv[0].Length, h.Scale))])],
    };

    /// <summary>Splits text into words (letters, digits and apostrophes; punctuation is dropped).</summary>
    public static IReadOnlyList<string> Tokenize(string text) => WordPattern().Matches(text ?? "").Select(m => m.Value).ToArray();

    /// <summary>The embedding of a word: exact, then lower-case; unknown words hash to a fixed vector or are an error.</summary>
    /// <exception cref="HeedException">The word is unknown and the model does not hash unknown words.</exception>
    public double[] Embed(string word, out bool known)
    {
        ArgumentNullException.ThrowIfNull(word);
        known = true;
        if (_embeddings.TryGetValue(word, out double[]? vector) || _embeddings.TryGetValue(word.ToLowerInvariant(), out vector))
        {
            return vector;
        }

        known = false;
        if (!HashUnknown)
        {
            throw new HeedException($"word '{word}' is not in model {Id}'s vocabulary of {_embeddings.Count} words");
        }

        // FNV-1a of the lower-case word seeds a xorshift generator; each component lands in [-1, 1].
        ulong state = 14695981039346656037UL;
        foreach (char c in word.ToLowerInvariant())
        {
            state = (state ^ c) * 1099511628211UL;
        }

        var hashed = new double[Width];
        for (int i = 0; i < Width; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            hashed[i] = Math.Round(((state % 2001) / 1000.0) - 1.0, 3);
        }

        return hashed;
    }

    /// <summary>Runs every layer and head on the tokens; calls <paramref name="onHead"/> after each head (layer, head).</summary>
    /// <exception cref="HeedException">A token is unknown and the model does not hash unknown words.</exception>
    public IReadOnlyList<IReadOnlyList<AttentionTrace>> Run(IReadOnlyList<string> tokens, Action<int, int>? onHead, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        double[][] x = tokens.Select(t => Embed(t, out _)).ToArray();
        var result = new List<IReadOnlyList<AttentionTrace>>();
        for (int l = 0; l < Layers.Count; l++)
        {
            var traces = new List<AttentionTrace>();
            for (int h = 0; h < Layers[l].Count; h++)
            {
                cancellation.ThrowIfCancellationRequested();
                ToyHead head = Layers[l][h];
                traces.Add(TraceBuilder.Build(tokens, x, head.Wq, head.Wk, head.Wv, head.Scale));
                onHead?.Invoke(l, h);
            }

            // (T, Σ Dv): the heads' outputs side by side feed the next layer.
            x = Enumerable.Range(0, tokens.Count).Select(i => traces.SelectMany(t => t.Outputs[i]).ToArray()).ToArray();
            result.Add(traces);
        }

        return result;
    }

    private static void Check(string id, int layer, int head, string name, double[][] m, int rows)
    {
        if (m is null || m.Length != rows || m.Length == 0 || m[0].Length == 0 || m.Any(r => r is null || r.Length != m[0].Length))
        {
            throw new HeedException($"model {id}: layer {layer} head {head}: {name} must be [{rows}, n] (its input width is {rows}) with rows of one length");
        }
    }

    [GeneratedRegex(@"[\p{L}\p{N}']+")]
    private static partial Regex WordPattern();
}
