using System.Text.Json;
using System.Text.Json.Serialization;
using Heed.Models.Tokenizers;

namespace Heed.Models.Bert;

/// <summary>How token vectors become one vector per text.</summary>
public enum EmbeddingPooling
{
    /// <summary>The average of every token's last hidden state ([CLS] and [SEP] included, padding excluded).</summary>
    Mean,

    /// <summary>The last hidden state of [CLS].</summary>
    Cls,

    /// <summary>No pooling: each text's last hidden state [T, C].</summary>
    None,
}

/// <summary>The settings of one <see cref="SentenceEncoder.Embed"/> call; null fields take the model's defaults.</summary>
public sealed record EmbeddingOptions
{
    /// <summary>The pooling; null = the model's sentence-transformers config, else mean.</summary>
    public EmbeddingPooling? Pooling { get; init; }

    /// <summary>Whether pooled vectors are scaled to length 1; null = the model's sentence-transformers config, else true.</summary>
    public bool? Normalize { get; init; }

    /// <summary>Texts per forward pass (texts of similar length go together).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Threads the matrix products and attention may use.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Runs attention through Heed's float64 reference.</summary>
    public bool UseReference { get; init; }

    /// <summary>Receives the number of texts done after each batch.</summary>
    public IProgress<int>? Progress { get; init; }

    /// <summary>Stops the call between layers.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// What <see cref="SentenceEncoder.Embed"/> returns; serialized with System.Text.Json it is <c>heed embed</c>'s JSON:
/// <c>{"model", "dimensions", "pooling", "normalized", "tokens", "embeddings" | "hidden_states"}</c>.
/// </summary>
/// <param name="Model">The model as it was named when loaded.</param>
/// <param name="Dimensions">C, the length of each vector.</param>
/// <param name="Pooling">"mean", "cls" or "none".</param>
/// <param name="Normalized">Whether each embedding has length 1 (false for hidden states).</param>
/// <param name="Tokens">Each text's tokens as the model read them ("[CLS]", "the", …, "[SEP]").</param>
/// <param name="Embeddings">One vector [C] per text; null when the pooling is "none".</param>
/// <param name="HiddenStates">Per text its last hidden state, [T][C]; null unless the pooling is "none".</param>
public sealed record EmbeddingResult(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("dimensions")] int Dimensions,
    [property: JsonPropertyName("pooling")] string Pooling,
    [property: JsonPropertyName("normalized")] bool Normalized,
    [property: JsonPropertyName("tokens")] IReadOnlyList<IReadOnlyList<string>> Tokens,
    [property: JsonPropertyName("embeddings"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<float[]>? Embeddings,
    [property: JsonPropertyName("hidden_states"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<float[][]>? HiddenStates);

/// <summary>
/// A BERT-family encoder with its tokenizer and pooling: texts in, sentence embeddings out (what sentence-transformers'
/// <c>encode</c> does). Loaded from a Hugging Face folder (config.json + model.safetensors or shards + vocab.txt, with
/// tokenizer_config.json, modules.json, 1_Pooling/config.json and sentence_bert_config.json when present) or from an ONNX export
/// (a folder holding model.onnx and vocab.txt, or the .onnx file with vocab.txt beside it).
/// </summary>
public sealed class SentenceEncoder
{
    /// <summary>Creates an encoder from its parts.</summary>
    public SentenceEncoder(BertModel model, WordPieceTokenizer tokenizer, string name, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(name);
        if (tokenizer.VocabSize != model.Config.VocabSize)
        {
            throw new HeedException($"{name}: the vocabulary has {tokenizer.VocabSize} entries but the model {model.Config.VocabSize}");
        }

        Model = model;
        Tokenizer = tokenizer;
        Name = name;
        DefaultPooling = pooling;
        DefaultNormalize = normalize;
    }

    /// <summary>The encoder.</summary>
    public BertModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>The model's name (the path it was loaded from).</summary>
    public string Name { get; }

    /// <summary>The pooling the model was trained with (sentence-transformers' 1_Pooling/config.json), else mean.</summary>
    public EmbeddingPooling DefaultPooling { get; }

    /// <summary>Whether the model's pipeline ends with sentence-transformers' Normalize (true when it has no modules.json).</summary>
    public bool DefaultNormalize { get; }

    /// <summary>The longest input in tokens, [CLS] and [SEP] included; longer texts are truncated.</summary>
    public int MaxLength => Math.Min(Tokenizer.Options.MaxLength, Model.Config.MaxPositions);

    /// <summary>Whether <paramref name="path"/> looks like an encoder: an .onnx file, or a folder with model.onnx or a BERT config.json and vocab.txt.</summary>
    public static bool IsEncoder(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path)) return path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        if (!Directory.Exists(path) || !File.Exists(Path.Combine(path, "vocab.txt"))) return false;
        if (File.Exists(Path.Combine(path, "model.onnx"))) return true;
        string config = Path.Combine(path, "config.json");
        if (!File.Exists(config)) return false;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(config));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("num_attention_heads", out _) && !doc.RootElement.TryGetProperty("n_head", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Loads an encoder (see <see cref="SentenceEncoder"/> for the layouts).</summary>
    /// <exception cref="HeedException">A file is missing or malformed, or the export does not fit the BERT pattern.</exception>
    public static SentenceEncoder Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string folder;
        BertModel model;
        if (File.Exists(path))
        {
            if (!path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                throw new HeedException($"model {path}: an encoder is a folder (Hugging Face or ONNX export) or an .onnx file");
            }

            folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            model = OnnxBert.Load(path, ConfigBeside(folder));
        }
        else if (Directory.Exists(path))
        {
            folder = path;
            bool safetensors = File.Exists(Path.Combine(folder, "model.safetensors")) || File.Exists(Path.Combine(folder, "model.safetensors.index.json"));
            string onnx = Path.Combine(folder, "model.onnx");
            model = safetensors ? BertModel.LoadSafetensors(folder)
                : File.Exists(onnx) ? OnnxBert.Load(onnx, ConfigBeside(folder))
                : throw new HeedException($"model {path}: no model.safetensors, model.safetensors.index.json or model.onnx");
        }
        else
        {
            throw new HeedException($"model {path}: no such file or folder");
        }

        string vocab = Path.Combine(folder, "vocab.txt");
        if (!File.Exists(vocab))
        {
            throw new HeedException($"model {path}: no vocab.txt beside the weights");
        }

        WordPieceTokenizer tokenizer = WordPieceTokenizer.Load(vocab);
        if (MaxSequenceLength(folder) is int max)
        {
            tokenizer = new WordPieceTokenizer(Enumerable.Range(0, tokenizer.VocabSize).Select(tokenizer.PieceText).ToArray(), tokenizer.Options with { MaxLength = max }, null, vocab);
        }

        (EmbeddingPooling pooling, bool normalize) = SentenceTransformersPipeline(folder);
        return new SentenceEncoder(model, tokenizer, path, pooling, normalize);
    }

    /// <summary>
    /// Embeds <paramref name="texts"/>: each is tokenized ([CLS] … [SEP], truncated to <see cref="MaxLength"/>), texts of similar
    /// length run together in batches, and each text's last hidden state is pooled and, when asked, scaled to length 1.
    /// </summary>
    /// <exception cref="HeedException">The options are invalid.</exception>
    public EmbeddingResult Embed(IReadOnlyList<string> texts, EmbeddingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        options ??= new EmbeddingOptions();
        if (options.BatchSize < 1) throw new HeedException($"batch size {options.BatchSize}: expected at least 1");
        EmbeddingPooling pooling = options.Pooling ?? DefaultPooling;
        bool normalize = pooling != EmbeddingPooling.None && (options.Normalize ?? DefaultNormalize);
        int width = Model.Config.Width;

        int[][] ids = [.. texts.Select(t => Tokenizer.EncodeForModel(t ?? throw new ArgumentException("a text is null", nameof(texts)), MaxLength))];
        var hidden = new float[texts.Count][];
        int[] order = [.. Enumerable.Range(0, ids.Length).OrderBy(i => ids[i].Length)];
        var run = new EncoderRunOptions { Threads = options.Threads, UseReference = options.UseReference, Cancellation = options.Cancellation };
        for (int start = 0; start < order.Length; start += options.BatchSize)
        {
            int[] batch = order[start..Math.Min(order.Length, start + options.BatchSize)];
            float[][] states = Model.Forward([.. batch.Select(i => ids[i])], run);
            for (int j = 0; j < batch.Length; j++) hidden[batch[j]] = states[j];
            options.Progress?.Report(start + batch.Length);
        }

        IReadOnlyList<string>[] tokens = [.. ids.Select(s => (IReadOnlyList<string>)[.. s.Select(Tokenizer.PieceText)])];
        string poolingName = pooling.ToString().ToLowerInvariant();
        if (pooling == EmbeddingPooling.None)
        {
            float[][][] rows = [.. hidden.Select(h => Enumerable.Range(0, h.Length / width).Select(t => h.AsSpan(t * width, width).ToArray()).ToArray())];
            return new EmbeddingResult(Name, width, poolingName, false, tokens, null, rows);
        }

        float[][] embeddings = [.. hidden.Select(h => Pool(h, width, pooling, normalize))];
        return new EmbeddingResult(Name, width, poolingName, normalize, tokens, embeddings, null);
    }

    /// <summary>Pools one last hidden state [T, C] into [C]: the mean over T or row 0, then optionally divided by its L2 norm.</summary>
    public static float[] Pool(ReadOnlySpan<float> hidden, int width, EmbeddingPooling pooling, bool normalize)
    {
        int rows = hidden.Length / width;
        var sum = new double[width];
        int used = pooling == EmbeddingPooling.Cls ? 1 : rows;
        for (int t = 0; t < used; t++)
        {
            ReadOnlySpan<float> row = hidden.Slice(t * width, width);
            for (int i = 0; i < width; i++) sum[i] += row[i];
        }

        double norm = 0;
        for (int i = 0; i < width; i++)
        {
            sum[i] /= used;
            norm += sum[i] * sum[i];
        }

        // sentence-transformers' Normalize divides by max(‖v‖, 1e-12), as torch.nn.functional.normalize does.
        double scale = normalize ? 1 / Math.Max(Math.Sqrt(norm), 1e-12) : 1;
        return [.. sum.Select(s => (float)(s * scale))];
    }

    private static BertConfig? ConfigBeside(string folder)
    {
        string config = Path.Combine(folder, "config.json");
        return File.Exists(config) ? BertConfig.Load(config) : null;
    }

    private static int? MaxSequenceLength(string folder)
    {
        string path = Path.Combine(folder, "sentence_bert_config.json");
        if (!File.Exists(path)) return null;
        JsonElement root = ReadJson(path);
        return root.TryGetProperty("max_seq_length", out JsonElement m) && m.TryGetInt32(out int max) && max >= 2 ? max : null;
    }

    // modules.json lists the pipeline (Transformer, Pooling, Normalize…); the Pooling module's config.json says which pooling.
    private static (EmbeddingPooling, bool) SentenceTransformersPipeline(string folder)
    {
        string modules = Path.Combine(folder, "modules.json");
        if (!File.Exists(modules)) return (EmbeddingPooling.Mean, true);
        JsonElement root = ReadJson(modules);
        if (root.ValueKind != JsonValueKind.Array) throw new HeedException($"{modules}: expected a JSON array of modules");
        EmbeddingPooling pooling = EmbeddingPooling.Mean;
        bool normalize = false;
        foreach (JsonElement module in root.EnumerateArray())
        {
            string type = module.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            if (type.EndsWith(".Normalize", StringComparison.Ordinal)) normalize = true;
            if (!type.EndsWith(".Pooling", StringComparison.Ordinal)) continue;
            string sub = module.TryGetProperty("path", out JsonElement p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "";
            if (sub.Length == 0 || sub.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(sub))
            {
                throw new HeedException($"{modules}: the Pooling module's path \"{sub}\" is not a folder inside the model");
            }

            string config = Path.Combine(folder, sub, "config.json");
            if (!File.Exists(config)) continue;
            JsonElement c = ReadJson(config);
            bool Flag(string name) => c.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.True;
            pooling = Flag("pooling_mode_cls_token") ? EmbeddingPooling.Cls
                : Flag("pooling_mode_mean_tokens") ? EmbeddingPooling.Mean
                : throw new HeedException($"{config}: only CLS and mean pooling are supported");
        }

        return (pooling, normalize);
    }

    private static JsonElement ReadJson(string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new HeedException($"{path}: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }
    }
}
