using System.Runtime.CompilerServices;
using System.Text.Json;
using Heed.IO;
using Heed.Models.Blocks;
using Heed.Models.Generation;

namespace Heed.Models.Bert;

/// <summary>
/// One post-LayerNorm encoder layer (Hugging Face's <c>encoder.layer.N.</c>). Dense matrices are held [in, out] (y = x·W + b, as
/// ONNX's MatMul takes them; the checkpoint's <c>nn.Linear</c> weights are their transposes) and packed for the product
/// (<see cref="PackedMatrix"/>), with Q, K and V side by side in one [C, 3C] matrix so that one product reads each input row once.
/// </summary>
public sealed class BertLayer
{
    /// <summary>[Wqᵀ | Wkᵀ | Wvᵀ] [C, 3C]: attention.self.{query,key,value}.weight, transposed and side by side.</summary>
    public required PackedMatrix QkvWeight { get; init; }

    /// <summary>[bq | bk | bv] [3C]: attention.self.{query,key,value}.bias.</summary>
    public required float[] QkvBias { get; init; }

    /// <summary>attention.output.dense.weight transposed, [C, C].</summary>
    public required PackedMatrix AttentionOutputWeight { get; init; }

    /// <summary>attention.output.dense.bias [C].</summary>
    public required float[] AttentionOutputBias { get; init; }

    /// <summary>attention.output.LayerNorm.weight [C].</summary>
    public required float[] AttentionNormWeight { get; init; }

    /// <summary>attention.output.LayerNorm.bias [C].</summary>
    public required float[] AttentionNormBias { get; init; }

    /// <summary>intermediate.dense.weight transposed, [C, inner].</summary>
    public required PackedMatrix IntermediateWeight { get; init; }

    /// <summary>intermediate.dense.bias [inner].</summary>
    public required float[] IntermediateBias { get; init; }

    /// <summary>output.dense.weight transposed, [inner, C].</summary>
    public required PackedMatrix OutputWeight { get; init; }

    /// <summary>output.dense.bias [C].</summary>
    public required float[] OutputBias { get; init; }

    /// <summary>output.LayerNorm.weight [C].</summary>
    public required float[] OutputNormWeight { get; init; }

    /// <summary>output.LayerNorm.bias [C].</summary>
    public required float[] OutputNormBias { get; init; }
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

    // The buffers of the last call, taken by the next (a call that finds none, as a concurrent one does, allocates its own).
    private Workspace? _workspace;

    private BertModel(BertConfig config, float[] wordEmbeddings, float[] positionEmbeddings, float[] tokenTypeEmbeddings, float[] normWeight, float[] normBias, BertLayer[] layers)
    {
        Config = config;
        WordEmbeddings = wordEmbeddings;
        PositionEmbeddings = positionEmbeddings;
        TokenTypeEmbeddings = tokenTypeEmbeddings;
        EmbeddingNormWeight = normWeight;
        EmbeddingNormBias = normBias;
        Layers = layers;
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
        => FromTensors(config, tensors, source, denseInOut: false);

    /// <summary>
    /// As the public overload; with <paramref name="denseInOut"/> the six dense weights of each layer come as [in, out] (ONNX
    /// MatMul's layout, the one the products use) instead of nn.Linear's [out, in], and are packed without a transposed copy.
    /// </summary>
    internal static BertModel FromTensors(BertConfig config, IReadOnlyDictionary<string, Tensor> tensors, string source, bool denseInOut)
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

        // nn.Linear [out, in] → [in, out]
        float[] Dense(string name, int outFeatures, int inFeatures) => denseInOut
            ? Get(name, inFeatures, outFeatures)
            : Transpose(Get(name, outFeatures, inFeatures), outFeatures, inFeatures);
        PackedMatrix Packed(string name, int outFeatures, int inFeatures) => new(Dense(name, outFeatures, inFeatures), inFeatures, outFeatures);

        var layers = new BertLayer[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"encoder.layer.{l}.";
            float[] wq = Dense(p + "attention.self.query.weight", c, c), wk = Dense(p + "attention.self.key.weight", c, c), wv = Dense(p + "attention.self.value.weight", c, c);
            var qkv = new float[c * 3 * c];
            for (int i = 0; i < c; i++)
            {
                wq.AsSpan(i * c, c).CopyTo(qkv.AsSpan(i * 3 * c, c));
                wk.AsSpan(i * c, c).CopyTo(qkv.AsSpan((i * 3 * c) + c, c));
                wv.AsSpan(i * c, c).CopyTo(qkv.AsSpan((i * 3 * c) + (2 * c), c));
            }

            layers[l] = new BertLayer
            {
                QkvWeight = new PackedMatrix(qkv, c, 3 * c),
                QkvBias = [.. Get(p + "attention.self.query.bias", c), .. Get(p + "attention.self.key.bias", c), .. Get(p + "attention.self.value.bias", c)],
                AttentionOutputWeight = Packed(p + "attention.output.dense.weight", c, c),
                AttentionOutputBias = Get(p + "attention.output.dense.bias", c),
                AttentionNormWeight = Get(p + "attention.output.LayerNorm.weight", c),
                AttentionNormBias = Get(p + "attention.output.LayerNorm.bias", c),
                IntermediateWeight = Packed(p + "intermediate.dense.weight", inner, c),
                IntermediateBias = Get(p + "intermediate.dense.bias", inner),
                OutputWeight = Packed(p + "output.dense.weight", c, inner),
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

    /// <summary>Every weight under its Hugging Face name (no prefix), dense matrices back in nn.Linear's [out, in]: for writing a checkpoint.</summary>
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
            float[] Column(int part) // Wq, Wk or Wv as nn.Linear holds it, [C, C]
            {
                var w = new float[c * c];
                for (int i = 0; i < c; i++)
                {
                    for (int o = 0; o < c; o++) w[(o * c) + i] = b.QkvWeight[i, (part * c) + o];
                }

                return w;
            }

            (string Name, float[] Data, int[] Shape)[] entries =
            [
                ("attention.self.query.weight", Column(0), [c, c]), ("attention.self.query.bias", b.QkvBias[..c], [c]),
                ("attention.self.key.weight", Column(1), [c, c]), ("attention.self.key.bias", b.QkvBias[c..(2 * c)], [c]),
                ("attention.self.value.weight", Column(2), [c, c]), ("attention.self.value.bias", b.QkvBias[(2 * c)..], [c]),
                ("attention.output.dense.weight", Transpose(b.AttentionOutputWeight.ToArray(), c, c), [c, c]), ("attention.output.dense.bias", b.AttentionOutputBias, [c]),
                ("attention.output.LayerNorm.weight", b.AttentionNormWeight, [c]), ("attention.output.LayerNorm.bias", b.AttentionNormBias, [c]),
                ("intermediate.dense.weight", Transpose(b.IntermediateWeight.ToArray(), c, inner), [inner, c]), ("intermediate.dense.bias", b.IntermediateBias, [inner]),
                ("output.dense.weight", Transpose(b.OutputWeight.ToArray(), inner, c), [c, inner]), ("output.dense.bias", b.OutputBias, [c]),
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

        // A batch pads its attention to a multiple of 8 positions, so that batches of similar lengths share one size of the
        // workspace's Q, K, V and O instead of allocating four arrays each (padded keys are masked by each sequence's length,
        // and padded query rows are dropped). One sequence keeps its own length: its capture is [H, T, T].
        if (batch > 1) longest = (longest + 7) / 8 * 8;
        int heads = cfg.NumHeads, d = cfg.HeadSize;
        Workspace w = Interlocked.Exchange(ref _workspace, null) is { } cached && cached.Fits(total, batch * longest) ? cached : new Workspace(total, batch * longest, cfg);
        Span<float> x = w.X.AsSpan(0, total * width), a = w.A.AsSpan(0, total * width), qkv = w.Qkv.AsSpan(0, total * 3 * width);
        Span<float> y = w.Y.AsSpan(0, total * width), h = w.H.AsSpan(0, total * inner);
        int padded = batch * longest * width;
        float[][] qkvo = w.Attention(padded);
        var q = new Tensor<float>([batch, heads, longest, d], qkvo[0]);
        var k = new Tensor<float>([batch, heads, longest, d], qkvo[1]);
        var v = new Tensor<float>([batch, heads, longest, d], qkvo[2]);
        var output = new Tensor<float>([batch, heads, longest, d], qkvo[3]);
        var lengths = new Tensor<long>([batch], [.. sequences.Select(s => (long)s.Length)]);
        // One sentence's attention (2·H·T²·D ≈ 0.3 M multiply-adds at T ≈ 19) is over before Parallel.For has handed out its
        // heads: below 2^22 it stays on the calling thread, as the products do below Gemm's threshold.
        long attentionWork = 2L * batch * heads * longest * longest * d;
        var attentionOptions = new AttentionOptions
        {
            UseReference = options.UseReference,
            MaxThreads = attentionWork < (1L << 22) ? 1 : threads,
            Cancellation = options.Cancellation,
        };

        // x = LayerNorm(word[id] + position[t] + type[0])
        int row = 0;
        foreach (int[] ids in sequences)
        {
            for (int t = 0; t < ids.Length; t++, row++)
            {
                Span<float> xr = x.Slice(row * width, width);
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
            Gemm.Multiply(x, b.QkvWeight, b.QkvBias, qkv, total, threads: threads);

            // qkv rows → Q, K, V [B, H, T, D], padded to the longest sequence (rows past a sequence's length hold stale values:
            // its keys there are masked, and its queries there are never read back)
            row = 0;
            for (int s = 0; s < batch; s++)
            {
                for (int t = 0; t < sequences[s].Length; t++, row++)
                {
                    ReadOnlySpan<float> r = qkv.Slice(row * 3 * width, 3 * width);
                    for (int head = 0; head < heads; head++)
                    {
                        int to = ((((s * heads) + head) * longest) + t) * d;
                        r.Slice(head * d, d).CopyTo(q.Data.AsSpan(to, d));
                        r.Slice(width + (head * d), d).CopyTo(k.Data.AsSpan(to, d));
                        r.Slice((2 * width) + (head * d), d).CopyTo(v.Data.AsSpan(to, d));
                    }
                }
            }

            // Y = softmax(Q·Kᵀ/√D, keys past each sequence's length masked)·V   [B, H, T, D]
            var inputs = new AttentionInputs(q, k, v) { NonpadKvSeqlen = lengths, Destination = output };
            AttentionOptions call = options.Recorder is AttentionRecorder recorder
                ? attentionOptions with { Observer = recorder.ForLayer(l, 0, longest) }
                : attentionOptions;
            Attention.Compute(inputs, call);
            row = 0;
            for (int s = 0; s < batch; s++)
            {
                for (int t = 0; t < sequences[s].Length; t++, row++)
                {
                    for (int head = 0; head < heads; head++)
                    {
                        output.Data.AsSpan(((((s * heads) + head) * longest) + t) * d, d).CopyTo(y.Slice((row * width) + (head * d), d));
                    }
                }
            }

            // x = LayerNorm(x + Y·Woᵀ + bo)   (the residual added in the product's epilogue)
            Gemm.Multiply(y, b.AttentionOutputWeight, b.AttentionOutputBias, a, total, DenseOutput.Residual, x, threads);
            Norm.Layer(a, b.AttentionNormWeight, b.AttentionNormBias, x, total, width, cfg.LayerNormEpsilon);

            // x = LayerNorm(x + gelu(x·W1ᵀ + b1)·W2ᵀ + b2)   (GELU and the residual in the epilogues)
            Gemm.Multiply(x, b.IntermediateWeight, b.IntermediateBias, h, total, DenseOutput.Gelu, threads: threads);
            Gemm.Multiply(h, b.OutputWeight, b.OutputBias, a, total, DenseOutput.Residual, x, threads);
            Norm.Layer(a, b.OutputNormWeight, b.OutputNormBias, x, total, width, cfg.LayerNormEpsilon);
        }

        var result = new float[batch][];
        row = 0;
        for (int s = 0; s < batch; s++)
        {
            int length = sequences[s].Length;
            result[s] = x.Slice(row * width, length * width).ToArray();
            row += length;
        }

        _workspace = w;
        return result;
    }

    private sealed class Workspace(int rows, int paddedRows, BertConfig c)
    {
        public float[] X { get; } = new float[rows * c.Width];

        public float[] A { get; } = new float[rows * c.Width];

        public float[] Qkv { get; } = new float[rows * 3 * c.Width];

        public float[] Y { get; } = new float[rows * c.Width];

        public float[] H { get; } = new float[rows * c.InnerWidth];

        // Q, K, V and O [B, H, T, D] of the last padded size, and of up to KeptSizes small ones (at most KeptFloats floats each): a
        // tensor's array has its exact length, so sentences of different lengths, one at a time, would otherwise allocate four
        // arrays a sentence (117 KB for all-MiniLM-L6-v2 at 19 tokens, most of what a pass allocated). At most 16 · 4 · 128 KB.
        private const int KeptSizes = 16;
        private const int KeptFloats = 1 << 15;
        private readonly Dictionary<int, float[][]> _small = [];
        private float[][] _last = [[], [], [], []];

        public float[][] Attention(int padded)
        {
            if (_last[0].Length == padded) return _last;
            if (!_small.TryGetValue(padded, out float[][]? set))
            {
                set = [new float[padded], new float[padded], new float[padded], new float[padded]];
                if (padded <= KeptFloats && _small.Count < KeptSizes) _small[padded] = set;
            }

            _last = set;
            return set;
        }

        public bool Fits(int total, int padded) => rows >= total && paddedRows >= padded;
    }

    // [rows, columns] → [columns, rows]
    private static float[] Transpose(float[] m, int rows, int columns)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int col = 0; col < columns; col++) t[(col * rows) + r] = m[(r * columns) + col];
        }

        return t;
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
