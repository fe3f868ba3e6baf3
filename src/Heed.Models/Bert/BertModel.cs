using System.Runtime.CompilerServices;
using System.Text.Json;
using Heed.IO;
using Heed.Models.Blocks;
using Heed.Models.Generation;

namespace Heed.Models.Bert;

/// <summary>
/// One post-LayerNorm encoder layer; names as in Hugging Face's checkpoint (<c>encoder.layer.N.</c>…), matrices held
/// [out, in] as <c>nn.Linear</c> stores them.
/// </summary>
public sealed class BertLayer
{
    /// <summary>attention.self.query.weight [C, C].</summary>
    public required float[] QueryWeight { get; init; }

    /// <summary>attention.self.query.bias [C].</summary>
    public required float[] QueryBias { get; init; }

    /// <summary>attention.self.key.weight [C, C].</summary>
    public required float[] KeyWeight { get; init; }

    /// <summary>attention.self.key.bias [C].</summary>
    public required float[] KeyBias { get; init; }

    /// <summary>attention.self.value.weight [C, C].</summary>
    public required float[] ValueWeight { get; init; }

    /// <summary>attention.self.value.bias [C].</summary>
    public required float[] ValueBias { get; init; }

    /// <summary>attention.output.dense.weight [C, C].</summary>
    public required float[] AttentionOutputWeight { get; init; }

    /// <summary>attention.output.dense.bias [C].</summary>
    public required float[] AttentionOutputBias { get; init; }

    /// <summary>attention.output.LayerNorm.weight [C].</summary>
    public required float[] AttentionNormWeight { get; init; }

    /// <summary>attention.output.LayerNorm.bias [C].</summary>
    public required float[] AttentionNormBias { get; init; }

    /// <summary>intermediate.dense.weight [inner, C].</summary>
    public required float[] IntermediateWeight { get; init; }

    /// <summary>intermediate.dense.bias [inner].</summary>
    public required float[] IntermediateBias { get; init; }

    /// <summary>output.dense.weight [C, inner].</summary>
    public required float[] OutputWeight { get; init; }

    /// <summary>output.dense.bias [C].</summary>
    public required float[] OutputBias { get; init; }

    /// <summary>output.LayerNorm.weight [C].</summary>
    public required float[] OutputNormWeight { get; init; }

    /// <summary>output.LayerNorm.bias [C].</summary>
    public required float[] OutputNormBias { get; init; }

    /// <summary>Q, K and V stacked as one [3C, C] matrix, so that one product reads each input row once.</summary>
    internal float[] QkvWeight { get; private set; } = [];

    /// <summary>The three biases stacked [3C].</summary>
    internal float[] QkvBias { get; private set; } = [];

    internal void Stack()
    {
        QkvWeight = [.. QueryWeight, .. KeyWeight, .. ValueWeight];
        QkvBias = [.. QueryBias, .. KeyBias, .. ValueBias];
    }
}

/// <summary>How one <see cref="BertModel.Forward"/> call runs.</summary>
public sealed record EncoderRunOptions
{
    /// <summary>Threads the matrix products and attention may use (1 = the calling thread only).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Runs attention through Heed's float64 reference instead of the kernels (the <c>--reference</c> replay).</summary>
    public bool UseReference { get; init; }

    /// <summary>Receives every layer's attention (one sequence per call only); null = no capture, at no cost.</summary>
    public AttentionRecorder? Recorder { get; init; }

    /// <summary>Looked at between layers and inside attention.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// A BERT-family encoder: token + position + token-type embeddings and a LayerNorm, then post-LayerNorm layers of
/// bidirectional multi-head self-attention and a GELU (erf) feed-forward network. The output is the last hidden state
/// [T, C] of each sequence (Hugging Face's <c>last_hidden_state</c>); pooling is <see cref="SentenceEncoder"/>'s job.
/// </summary>
public sealed class BertModel
{
    private static readonly string[] LinearNames =
    [
        "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense",
    ];

    private BertModel(BertConfig config, float[] wordEmbeddings, float[] positionEmbeddings, float[] tokenTypeEmbeddings, float[] normWeight, float[] normBias, BertLayer[] layers)
    {
        Config = config;
        WordEmbeddings = wordEmbeddings;
        PositionEmbeddings = positionEmbeddings;
        TokenTypeEmbeddings = tokenTypeEmbeddings;
        EmbeddingNormWeight = normWeight;
        EmbeddingNormBias = normBias;
        Layers = layers;
        foreach (BertLayer layer in layers) layer.Stack();
    }

    /// <summary>The hyperparameters.</summary>
    public BertConfig Config { get; }

    /// <summary>embeddings.word_embeddings.weight [V, C].</summary>
    public float[] WordEmbeddings { get; }

    /// <summary>embeddings.position_embeddings.weight [MaxPositions, C].</summary>
    public float[] PositionEmbeddings { get; }

    /// <summary>embeddings.token_type_embeddings.weight [TypeVocabSize, C].</summary>
    public float[] TokenTypeEmbeddings { get; }

    /// <summary>embeddings.LayerNorm.weight [C].</summary>
    public float[] EmbeddingNormWeight { get; }

    /// <summary>embeddings.LayerNorm.bias [C].</summary>
    public float[] EmbeddingNormBias { get; }

    /// <summary>The layers encoder.layer.0 … encoder.layer.(L−1).</summary>
    public IReadOnlyList<BertLayer> Layers { get; }

    /// <summary>
    /// Loads a Hugging Face folder: config.json and model.safetensors, or the shards that model.safetensors.index.json lists
    /// (float32, float16 or bfloat16; names with or without a "bert." prefix; the pooler and any head are ignored).
    /// </summary>
    /// <exception cref="HeedException">A file or tensor is missing or has the wrong shape.</exception>
    public static BertModel LoadSafetensors(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        BertConfig config = BertConfig.Load(Path.Combine(folder, "config.json"));
        string single = Path.Combine(folder, "model.safetensors"), index = single + ".index.json";
        if (File.Exists(single))
        {
            return FromTensors(config, Safetensors.Read(single), single);
        }

        if (!File.Exists(index))
        {
            throw new HeedException($"model {folder}: no model.safetensors and no model.safetensors.index.json");
        }

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (string shard in ShardFiles(index))
        {
            foreach ((string name, Tensor t) in Safetensors.Read(Path.Combine(folder, shard))) tensors[name] = t;
        }

        return FromTensors(config, tensors, index);
    }

    /// <summary>
    /// Builds the model from tensors named as in Hugging Face's checkpoint: embeddings.word_embeddings.weight,
    /// embeddings.position_embeddings.weight, embeddings.token_type_embeddings.weight, embeddings.LayerNorm.{weight,bias},
    /// and per layer N encoder.layer.N.{attention.self.{query,key,value}, attention.output.dense, attention.output.LayerNorm,
    /// intermediate.dense, output.dense, output.LayerNorm}.{weight,bias}, optionally all behind one prefix such as "bert.".
    /// </summary>
    /// <exception cref="HeedException">A tensor is missing or has the wrong shape or type.</exception>
    public static BertModel FromTensors(BertConfig config, IReadOnlyDictionary<string, Tensor> tensors, string source = "weights")
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        config.Validate(source);
        const string Anchor = "embeddings.word_embeddings.weight";
        string prefix = tensors.Keys.FirstOrDefault(k => k.EndsWith(Anchor, StringComparison.Ordinal)) is string found
            ? found[..^Anchor.Length]
            : throw new HeedException($"{source}: tensor {Anchor} is missing");
        int c = config.Width, inner = config.InnerWidth;

        float[] Get(string name, params int[] shape)
        {
            if (!tensors.TryGetValue(prefix + name, out Tensor? t))
            {
                throw new HeedException($"{source}: tensor {prefix}{name} is missing");
            }

            if (!t.Shape.SequenceEqual(shape))
            {
                throw new HeedException($"{source}: tensor {prefix}{name} has shape {t.ShapeText}; expected {Tensor.FormatShape(shape)}");
            }

            return t switch
            {
                Tensor<float> f => f.Data,
                _ when t.DType is DType.Float16 or DType.BFloat16 or DType.Float64 => [.. t.ToDoubleArray().Select(x => (float)x)],
                _ => throw new HeedException($"{source}: tensor {prefix}{name} is {DTypes.Name(t.DType)}; expected a float type"),
            };
        }

        var layers = new BertLayer[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"encoder.layer.{l}.";
            layers[l] = new BertLayer
            {
                QueryWeight = Get(p + "attention.self.query.weight", c, c),
                QueryBias = Get(p + "attention.self.query.bias", c),
                KeyWeight = Get(p + "attention.self.key.weight", c, c),
                KeyBias = Get(p + "attention.self.key.bias", c),
                ValueWeight = Get(p + "attention.self.value.weight", c, c),
                ValueBias = Get(p + "attention.self.value.bias", c),
                AttentionOutputWeight = Get(p + "attention.output.dense.weight", c, c),
                AttentionOutputBias = Get(p + "attention.output.dense.bias", c),
                AttentionNormWeight = Get(p + "attention.output.LayerNorm.weight", c),
                AttentionNormBias = Get(p + "attention.output.LayerNorm.bias", c),
                IntermediateWeight = Get(p + "intermediate.dense.weight", inner, c),
                IntermediateBias = Get(p + "intermediate.dense.bias", inner),
                OutputWeight = Get(p + "output.dense.weight", c, inner),
                OutputBias = Get(p + "output.dense.bias", c),
                OutputNormWeight = Get(p + "output.LayerNorm.weight", c),
                OutputNormBias = Get(p + "output.LayerNorm.bias", c),
            };
        }

        return new BertModel(
            config,
            Get("embeddings.word_embeddings.weight", config.VocabSize, c),
            Get("embeddings.position_embeddings.weight", config.MaxPositions, c),
            Get("embeddings.token_type_embeddings.weight", config.TypeVocabSize, c),
            Get("embeddings.LayerNorm.weight", c),
            Get("embeddings.LayerNorm.bias", c),
            layers);
    }

    /// <summary>Every weight under its Hugging Face name (no prefix), sharing this model's arrays: for writing a checkpoint.</summary>
    public IReadOnlyDictionary<string, Tensor> ToTensors()
    {
        int c = Config.Width, inner = Config.InnerWidth;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = new Tensor<float>([Config.VocabSize, c], WordEmbeddings),
            ["embeddings.position_embeddings.weight"] = new Tensor<float>([Config.MaxPositions, c], PositionEmbeddings),
            ["embeddings.token_type_embeddings.weight"] = new Tensor<float>([Config.TypeVocabSize, c], TokenTypeEmbeddings),
            ["embeddings.LayerNorm.weight"] = new Tensor<float>([c], EmbeddingNormWeight),
            ["embeddings.LayerNorm.bias"] = new Tensor<float>([c], EmbeddingNormBias),
        };
        for (int l = 0; l < Layers.Count; l++)
        {
            BertLayer b = Layers[l];
            string p = $"encoder.layer.{l}.";
            (string Name, float[] Data, int[] Shape)[] entries =
            [
                ("attention.self.query.weight", b.QueryWeight, [c, c]), ("attention.self.query.bias", b.QueryBias, [c]),
                ("attention.self.key.weight", b.KeyWeight, [c, c]), ("attention.self.key.bias", b.KeyBias, [c]),
                ("attention.self.value.weight", b.ValueWeight, [c, c]), ("attention.self.value.bias", b.ValueBias, [c]),
                ("attention.output.dense.weight", b.AttentionOutputWeight, [c, c]), ("attention.output.dense.bias", b.AttentionOutputBias, [c]),
                ("attention.output.LayerNorm.weight", b.AttentionNormWeight, [c]), ("attention.output.LayerNorm.bias", b.AttentionNormBias, [c]),
                ("intermediate.dense.weight", b.IntermediateWeight, [inner, c]), ("intermediate.dense.bias", b.IntermediateBias, [inner]),
                ("output.dense.weight", b.OutputWeight, [c, inner]), ("output.dense.bias", b.OutputBias, [c]),
                ("output.LayerNorm.weight", b.OutputNormWeight, [c]), ("output.LayerNorm.bias", b.OutputNormBias, [c]),
            ];
            foreach ((string name, float[] data, int[] shape) in entries) tensors[p + name] = new Tensor<float>(shape, data);
        }

        return tensors;
    }

    /// <summary>The names of the six dense layers of each encoder layer, without the ".weight"/".bias" suffix.</summary>
    internal static IReadOnlyList<string> DenseLayerNames => LinearNames;

    /// <summary>
    /// The last hidden state of each sequence: ids [B][T_b] (each already holding [CLS] … [SEP]) → [B][T_b · C]. Sequences of
    /// different lengths run together: the dense layers see only real tokens, and attention sees the batch padded to the
    /// longest with each sequence's keys masked past its length (ONNX <c>nonpad_kv_seqlen</c>), so padding changes nothing.
    /// Token types are all 0, positions 0..T_b−1.
    /// </summary>
    /// <exception cref="HeedException">A sequence is empty, longer than the position table, or holds an id outside the vocabulary.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float[][] Forward(IReadOnlyList<int[]> sequences, EncoderRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        options ??= new EncoderRunOptions();
        BertConfig cfg = Config;
        int batch = sequences.Count, width = cfg.Width, inner = cfg.InnerWidth, threads = Math.Max(1, options.Threads);
        if (batch == 0) return [];
        if (options.Recorder is not null && batch != 1)
        {
            throw new HeedException($"attention capture runs one sequence at a time; got {batch}");
        }

        int total = 0, longest = 0;
        foreach (int[] ids in sequences)
        {
            if (ids.Length == 0 || ids.Length > cfg.MaxPositions)
            {
                throw new HeedException($"a sequence of {ids.Length} tokens: expected 1..{cfg.MaxPositions} (the model's positions)");
            }

            foreach (int id in ids)
            {
                if ((uint)id >= (uint)cfg.VocabSize) throw new HeedException($"token id {id} is outside the vocabulary 0..{cfg.VocabSize - 1}");
            }

            total += ids.Length;
            longest = Math.Max(longest, ids.Length);
        }

        var x = new float[total * width];
        var a = new float[total * width];
        var qkv = new float[total * 3 * width];
        var y = new float[total * width];
        var h = new float[total * inner];
        var q = new Tensor<float>([batch, longest, width], new float[batch * longest * width]);
        var k = new Tensor<float>([batch, longest, width], new float[batch * longest * width]);
        var v = new Tensor<float>([batch, longest, width], new float[batch * longest * width]);
        var output = new Tensor<float>([batch, longest, width], new float[batch * longest * width]);
        var lengths = new Tensor<long>([batch], [.. sequences.Select(s => (long)s.Length)]);
        var attentionOptions = new AttentionOptions
        {
            QNumHeads = cfg.NumHeads,
            KvNumHeads = cfg.NumHeads,
            UseReference = options.UseReference,
            MaxThreads = threads,
            Cancellation = options.Cancellation,
        };

        // x = LayerNorm(word[id] + position[t] + type[0])
        int row = 0;
        foreach (int[] ids in sequences)
        {
            for (int t = 0; t < ids.Length; t++, row++)
            {
                Span<float> xr = x.AsSpan(row * width, width);
                ReadOnlySpan<float> we = WordEmbeddings.AsSpan(ids[t] * width, width), pe = PositionEmbeddings.AsSpan(t * width, width);
                ReadOnlySpan<float> te = TokenTypeEmbeddings.AsSpan(0, width);
                for (int i = 0; i < width; i++) xr[i] = we[i] + pe[i] + te[i];
            }
        }

        Norm.Layer(x, EmbeddingNormWeight, EmbeddingNormBias, x, total, width, cfg.LayerNormEpsilon);
        for (int l = 0; l < cfg.NumLayers; l++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            BertLayer b = Layers[l];

            // q, k, v = x·[Wq; Wk; Wv]ᵀ + [bq; bk; bv]   x [N, C] → qkv [N, 3C], N = Σ T_b
            Linear.MatMul(x, b.QkvWeight, b.QkvBias, qkv, total, width, 3 * width, threads: threads);

            // qkv rows → Q, K, V [B, T, H·D], padded to the longest sequence (padding rows stay zero)
            row = 0;
            for (int s = 0; s < batch; s++)
            {
                for (int t = 0; t < sequences[s].Length; t++, row++)
                {
                    int to = ((s * longest) + t) * width;
                    qkv.AsSpan(row * 3 * width, width).CopyTo(q.Data.AsSpan(to, width));
                    qkv.AsSpan((row * 3 * width) + width, width).CopyTo(k.Data.AsSpan(to, width));
                    qkv.AsSpan((row * 3 * width) + (2 * width), width).CopyTo(v.Data.AsSpan(to, width));
                }
            }

            // Y = softmax(Q·Kᵀ/√D, keys past each sequence's length masked)·V   [B, T, H·D]
            var inputs = new AttentionInputs(q, k, v) { NonpadKvSeqlen = lengths, Destination = output };
            AttentionOptions call = options.Recorder is AttentionRecorder recorder
                ? attentionOptions with { Observer = recorder.ForLayer(l, 0, longest) }
                : attentionOptions;
            Attention.Compute(inputs, call);
            row = 0;
            for (int s = 0; s < batch; s++)
            {
                int length = sequences[s].Length;
                output.Data.AsSpan(s * longest * width, length * width).CopyTo(y.AsSpan(row * width, length * width));
                row += length;
            }

            // x = LayerNorm(x + Y·Woᵀ + bo)
            x.CopyTo(a, 0);
            Linear.MatMul(y, b.AttentionOutputWeight, b.AttentionOutputBias, a, total, width, width, accumulate: true, threads: threads);
            Norm.Layer(a, b.AttentionNormWeight, b.AttentionNormBias, x, total, width, cfg.LayerNormEpsilon);

            // x = LayerNorm(x + gelu(x·W1ᵀ + b1)·W2ᵀ + b2)
            Linear.MatMul(x, b.IntermediateWeight, b.IntermediateBias, h, total, width, inner, threads: threads);
            Activation.GeluErf(h);
            x.CopyTo(a, 0);
            Linear.MatMul(h, b.OutputWeight, b.OutputBias, a, total, inner, width, accumulate: true, threads: threads);
            Norm.Layer(a, b.OutputNormWeight, b.OutputNormBias, x, total, width, cfg.LayerNormEpsilon);
        }

        var result = new float[batch][];
        row = 0;
        for (int s = 0; s < batch; s++)
        {
            int length = sequences[s].Length;
            result[s] = x.AsSpan(row * width, length * width).ToArray();
            row += length;
        }

        return result;
    }

    private static SortedSet<string> ShardFiles(string index)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new HeedException($"{index}: no weight_map object");
            }

            var files = new SortedSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                string file = p.Value.GetString() ?? "";
                if (file.Length == 0 || Path.GetFileName(file) != file)
                {
                    throw new HeedException($"{index}: shard \"{file}\" of {p.Name} is not a file name in the folder");
                }

                files.Add(file);
            }

            return files;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new HeedException($"{index}: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }
    }
}
