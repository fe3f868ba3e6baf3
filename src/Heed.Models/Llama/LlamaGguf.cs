using System.Runtime.InteropServices;
using Heed.Models.Blocks;
using Heed.Models.Gguf;
using Heed.Models.Tokenizers;

namespace Heed.Models.Llama;

/// <summary>
/// Reads GGUF files of the <c>llama</c> architecture (llama.cpp's format): hyperparameters from <c>llama.*</c> metadata,
/// weights from the tensor table (<c>token_embd</c>, <c>blk.N.attn_q</c> …, <c>output_norm</c>, <c>output</c> or the
/// embedding when it is absent). llama.cpp rotates adjacent pairs for this architecture (its "normal" RoPE), and its
/// converters permute Hugging Face's Q and K rows so that this holds, so the weights are used as stored. The whole
/// tensor table is checked against the metadata and the file's length before any tensor is allocated, and a tensor
/// Heed would not use (a bias, an expert) is refused, as llama.cpp refuses a file whose tensors it does not all create.
/// </summary>
public static class LlamaGguf
{
    // Sizes beyond these are not models: they bound every allocation a header can ask for.
    private const long MaxWidth = 1 << 16;
    private const long MaxLayers = 1 << 10;
    private const long MaxContext = 1 << 24;

    /// <summary>Reads and validates the hyperparameters and the tensor table.</summary>
    /// <exception cref="HeedException">The file is not a GGUF llama model or is inconsistent.</exception>
    public static LlamaConfig ReadConfig(string path) => ReadConfig(GgufFile.Load(path), path);

    /// <summary>Reads and validates the hyperparameters of a loaded header, and checks its tensor table.</summary>
    /// <exception cref="HeedException">The file is not a GGUF llama model or is inconsistent.</exception>
    public static LlamaConfig ReadConfig(GgufFile gguf, string path)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string architecture = gguf["general.architecture"] as string ?? throw new HeedException($"model {path}: GGUF without general.architecture (a vocabulary, not a model?)");
        if (architecture != "llama")
        {
            throw new HeedException($"model {path}: GGUF architecture {GgufFile.Quote(architecture)}; Heed runs \"llama\"");
        }

        if (gguf["llama.expert_count"] is { } experts && gguf.Integer("llama.expert_count") is not 0)
        {
            throw new HeedException($"model {path}: llama.expert_count is {GgufFile.Describe(experts)}: a mixture-of-experts model; Heed runs dense llama models");
        }

        int dim = Int(gguf, path, "llama.embedding_length", MaxWidth);
        int layers = Int(gguf, path, "llama.block_count", MaxLayers);
        int hidden = Int(gguf, path, "llama.feed_forward_length", 4 * MaxWidth);
        int heads = Int(gguf, path, "llama.attention.head_count", MaxWidth);
        int kvHeads = gguf["llama.attention.head_count_kv"] is null ? heads : Int(gguf, path, "llama.attention.head_count_kv", MaxWidth);
        int context = Int(gguf, path, "llama.context_length", MaxContext);
        if (dim % heads != 0)
        {
            throw new HeedException($"model {path}: llama.embedding_length {dim} is not a multiple of llama.attention.head_count {heads}");
        }

        if (heads % kvHeads != 0)
        {
            throw new HeedException($"model {path}: llama.attention.head_count {heads} is not a multiple of head_count_kv {kvHeads}");
        }

        int headSize = dim / heads;
        if (gguf["llama.attention.key_length"] is not null && Int(gguf, path, "llama.attention.key_length", MaxWidth) != headSize)
        {
            throw new HeedException($"model {path}: llama.attention.key_length {gguf.Integer("llama.attention.key_length")} differs from embedding_length / head_count = {headSize}; Heed runs heads of that size");
        }

        int ropeDims = gguf["llama.rope.dimension_count"] is null ? headSize : Int(gguf, path, "llama.rope.dimension_count", MaxWidth);
        if (ropeDims > headSize || ropeDims % 2 != 0)
        {
            throw new HeedException($"model {path}: llama.rope.dimension_count {ropeDims}; expected an even number up to the head size {headSize}");
        }

        float theta = Float(gguf, path, "llama.rope.freq_base", 10000f);
        float epsilon = Float(gguf, path, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        float ropeScale = RopeScale(gguf, path);
        if (gguf["llama.rope.scaling.attn_factor"] is not null && Float(gguf, path, "llama.rope.scaling.attn_factor", 1f) != 1f)
        {
            // llama.cpp multiplies the rotated Q and K by this factor.
            throw new HeedException($"model {path}: llama.rope.scaling.attn_factor is {GgufFile.Describe(gguf["llama.rope.scaling.attn_factor"])}; Heed applies RoPE without a magnitude factor (1)");
        }

        Dictionary<string, GgufTensorInfo> tensors = Index(gguf, path);
        GgufTensorInfo embedding = tensors.GetValueOrDefault("token_embd.weight") ?? throw new HeedException($"model {path}: no tensor token_embd.weight");
        if (embedding.Shape.Count != 2 || embedding.Shape[0] != dim)
        {
            throw new HeedException($"model {path}: token_embd.weight has shape [{string.Join(", ", embedding.Shape)}]; expected [{dim}, vocabulary]");
        }

        int vocab = (int)embedding.Shape[1];
        CheckTensor(gguf, path, embedding, [dim, vocab]);
        var config = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, context, SharedClassifier: !tensors.ContainsKey("output.weight"))
        {
            NormEpsilon = epsilon,
            RopeTheta = theta,
            RopeDimensions = ropeDims,
            RopeScale = ropeScale,
        };
        foreach ((string name, long[] shape) in ExpectedTensors(config))
        {
            CheckTensor(gguf, path, tensors.GetValueOrDefault(name) ?? throw new HeedException($"model {path}: no tensor {name}"), shape);
        }

        if (tensors.TryGetValue("rope_freqs.weight", out GgufTensorInfo? factors))
        {
            CheckTensor(gguf, path, factors, [ropeDims / 2]);
        }

        // Every other tensor belongs to a variant Heed does not run; running without it would be silently wrong.
        var used = new HashSet<string>(ExpectedTensors(config).Select(t => t.Name), StringComparer.Ordinal) { "token_embd.weight", "rope_freqs.weight" };
        if (gguf.Tensors.FirstOrDefault(t => !used.Contains(t.Name)) is { } extra)
        {
            throw new HeedException($"model {path}: tensor {GgufFile.Quote(extra.Name)} is not part of the llama architecture Heed runs (no biases, experts, extra blocks or per-layer RoPE factors)");
        }

        return config;
    }

    /// <summary>Reads the hyperparameters and every weight (after checking them all).</summary>
    /// <exception cref="HeedException">The file is not a GGUF llama model, is inconsistent, or holds a tensor type Heed does not read.</exception>
    public static (LlamaConfig Config, LlamaWeights Weights) Load(string path)
    {
        GgufFile gguf = GgufFile.Load(path);
        LlamaConfig c = ReadConfig(gguf, path);
        Dictionary<string, GgufTensorInfo> tensors = Index(gguf, path);
        try
        {
            using Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(path);
            WeightMatrix Matrix(string name) => ReadMatrix(file, gguf, tensors[name], path);
            float[] Vector(string name) => ReadMatrix(file, gguf, tensors[name], path, aligned: false).ToFloats();

            WeightMatrix embedding = ReadMatrix(file, gguf, tensors["token_embd.weight"], path, aligned: c.SharedClassifier);
            var layers = new LlamaLayer[c.NumLayers];
            for (int l = 0; l < c.NumLayers; l++)
            {
                string p = $"blk.{l}.";
                layers[l] = new LlamaLayer
                {
                    RmsAtt = Vector(p + "attn_norm.weight"),
                    Wq = Matrix(p + "attn_q.weight"),
                    Wk = Matrix(p + "attn_k.weight"),
                    Wv = Matrix(p + "attn_v.weight"),
                    Wo = Matrix(p + "attn_output.weight"),
                    RmsFfn = Vector(p + "ffn_norm.weight"),
                    W1 = Matrix(p + "ffn_gate.weight"),
                    W2 = Matrix(p + "ffn_down.weight"),
                    W3 = Matrix(p + "ffn_up.weight"),
                };
            }

            var weights = new LlamaWeights
            {
                TokenEmbedding = embedding,
                Layers = layers,
                RmsFinal = Vector("output_norm.weight"),
                Classifier = c.SharedClassifier ? embedding : Matrix("output.weight"),
                RopeFactors = tensors.ContainsKey("rope_freqs.weight") ? Vector("rope_freqs.weight") : null,
            };
            return (c, weights);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"model {path}: cannot read: {ex.Message}", ex);
        }
    }

    /// <summary>Every tensor the model needs, with its GGUF shape (ne[0] first: [in, out] for a matrix).</summary>
    private static IEnumerable<(string Name, long[] Shape)> ExpectedTensors(LlamaConfig c)
    {
        yield return ("output_norm.weight", [c.Dim]);
        if (!c.SharedClassifier) yield return ("output.weight", [c.Dim, c.VocabSize]);
        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"blk.{l}.";
            yield return (p + "attn_norm.weight", [c.Dim]);
            yield return (p + "attn_q.weight", [c.Dim, c.Dim]);
            yield return (p + "attn_k.weight", [c.Dim, c.KvDim]);
            yield return (p + "attn_v.weight", [c.Dim, c.KvDim]);
            yield return (p + "attn_output.weight", [c.Dim, c.Dim]);
            yield return (p + "ffn_norm.weight", [c.Dim]);
            yield return (p + "ffn_gate.weight", [c.Dim, c.HiddenDim]);
            yield return (p + "ffn_down.weight", [c.HiddenDim, c.Dim]);
            yield return (p + "ffn_up.weight", [c.Dim, c.HiddenDim]);
        }
    }

    private static Dictionary<string, GgufTensorInfo> Index(GgufFile gguf, string path)
    {
        var index = new Dictionary<string, GgufTensorInfo>(gguf.Tensors.Count, StringComparer.Ordinal);
        foreach (GgufTensorInfo t in gguf.Tensors)
        {
            if (!index.TryAdd(t.Name, t))
            {
                throw new HeedException($"model {path}: tensor {GgufFile.Quote(t.Name)} appears twice");
            }
        }

        return index;
    }

    /// <summary>Shape, type, alignment and extent of one tensor against the file.</summary>
    private static void CheckTensor(GgufFile gguf, string path, GgufTensorInfo t, long[] shape)
    {
        bool sameShape = t.Shape.Count >= shape.Length && t.Shape.Skip(shape.Length).All(e => e == 1) && shape.Select((e, i) => t.Shape[i] == e).All(b => b);
        if (!sameShape)
        {
            throw new HeedException($"model {path}: tensor {t.Name} has shape [{string.Join(", ", t.Shape)}]; expected [{string.Join(", ", shape)}]");
        }

        if (!GgmlTypes.IsSupported(t.Type))
        {
            throw new HeedException($"model {path}: tensor {t.Name} is {GgmlTypes.Name(t.Type)}; Heed reads F32, F16, BF16, Q8_0, Q4_K and Q6_K");
        }

        var type = (GgmlType)t.Type;
        int block = GgmlTypes.BlockElements(type);
        if (t.Shape[0] % block != 0)
        {
            throw new HeedException($"model {path}: tensor {t.Name} has rows of {t.Shape[0]} values, not whole {type} blocks of {block}");
        }

        long alignment = gguf.Integer("general.alignment") ?? 32;
        if (t.Offset % alignment != 0)
        {
            throw new HeedException($"model {path}: tensor {t.Name} starts at data offset {t.Offset}, not a multiple of the alignment {alignment}");
        }

        long rows = shape.Length == 1 ? 1 : shape[1];
        long bytes = rows * (t.Shape[0] / block) * GgmlTypes.BlockBytes(type);
        if (bytes > Array.MaxLength)
        {
            throw new HeedException($"model {path}: tensor {t.Name} holds {bytes} bytes, more than one .NET array can ({Array.MaxLength})");
        }

        if (gguf.DataOffset + t.Offset + bytes > gguf.FileLength)
        {
            throw new HeedException($"model {path}: tensor {t.Name} ({GgmlTypes.Name(t.Type)} [{string.Join(", ", t.Shape)}]) ends at byte {gguf.DataOffset + t.Offset + bytes}, past the end of the {gguf.FileLength}-byte file (truncated?)");
        }
    }

    private static WeightMatrix ReadMatrix(Microsoft.Win32.SafeHandles.SafeFileHandle file, GgufFile gguf, GgufTensorInfo t, string path, bool aligned = true)
    {
        var type = (GgmlType)t.Type;
        int columns = (int)t.Shape[0], rows = t.Shape.Count > 1 ? (int)t.Shape[1] : 1;
        long at = gguf.DataOffset + t.Offset;
        if (type == GgmlType.F32)
        {
            // Matrices start on a cache line for the decode products (AlignedStorage); the token embedding, unless it is
            // also the classifier, and the vectors are plain arrays.
            ArraySegment<float> values = aligned ? AlignedStorage.Allocate<float>((long)rows * columns) : new float[(long)rows * columns];
            ReadExactly(file, MemoryMarshal.AsBytes(values.AsSpan()), at);
            if (!BitConverter.IsLittleEndian)
            {
                Span<int> bits = MemoryMarshal.Cast<float, int>(values.AsSpan());
                System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(bits, bits);
            }

            return WeightMatrix.FromFloats(values, rows, columns);
        }

        var blocks = new byte[(long)rows * (columns / GgmlTypes.BlockElements(type)) * GgmlTypes.BlockBytes(type)];
        ReadExactly(file, blocks, at);
        if (WeightMatrix.FirstNonFiniteHalf(type, blocks) is long bad and >= 0)
        {
            throw new HeedException($"model {path}: tensor {t.Name} ({type}) holds a float16 ∞ or NaN in row {bad / (blocks.Length / rows)}; weights must be finite");
        }

        return WeightMatrix.FromBlocks(type, blocks, rows, columns);
    }

    private static void ReadExactly(Microsoft.Win32.SafeHandles.SafeFileHandle file, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(file, buffer, offset);
            if (n == 0) throw new IOException("the file ended early (it changed while it was read)");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>
    /// The factor positions are multiplied by, as llama.cpp derives it: the type defaults to "linear"; the factor is
    /// <c>rope.scaling.factor</c>, else the legacy <c>rope.scale_linear</c>; a factor of 0 or none means no scaling, any
    /// other gives 1 / factor; type "none" never scales. YaRN and LongRoPE change the rotation beyond that, so they are
    /// refused where the factor would scale (without one, llama.cpp's rotation is the plain one).
    /// </summary>
    private static float RopeScale(GgufFile gguf, string path)
    {
        string key = gguf["llama.rope.scaling.factor"] is null ? "llama.rope.scale_linear" : "llama.rope.scaling.factor";
        object? value = gguf[key];
        float factor = value switch { null => 0f, double d => (float)d, _ => gguf.Integer(key) ?? float.NaN };
        if (!float.IsFinite(factor) || factor < 0 || (factor > 0 && !float.IsFinite(1f / factor)))
        {
            throw new HeedException($"model {path}: {key} is {GgufFile.Describe(value)}; expected 0 (no scaling) or a positive number");
        }

        float scale = factor == 0 ? 1f : 1f / factor;
        object? type = gguf["llama.rope.scaling.type"];
        return (type ?? "linear") switch
        {
            "none" => 1f,
            "linear" => scale,
            "yarn" or "longrope" when scale == 1f => 1f,
            "yarn" or "longrope" => throw new HeedException($"model {path}: llama.rope.scaling.type {GgufFile.Describe(type)} with {key} {GgufFile.Describe(value)}; Heed applies \"none\" and \"linear\" scaling"),
            _ => throw new HeedException($"model {path}: llama.rope.scaling.type {GgufFile.Describe(type)}; expected \"none\", \"linear\", \"yarn\" or \"longrope\" (Heed applies \"none\" and \"linear\")"),
        };
    }

    private static int Int(GgufFile gguf, string path, string key, long max)
    {
        long? value = gguf.Integer(key);
        if (value is not long v || v <= 0 || v > max)
        {
            throw new HeedException($"model {path}: {key} is {GgufFile.Describe(gguf[key])}; expected an integer in 1..{max}");
        }

        return (int)v;
    }

    private static float Float(GgufFile gguf, string path, string key, float fallback)
    {
        object? value = gguf[key];
        if (value is null) return fallback;
        double d = value switch { double x => x, long l => l, _ => double.NaN };
        if (!double.IsFinite(d) || d <= 0)
        {
            throw new HeedException($"model {path}: {key} is {GgufFile.Describe(value)}; expected a positive number");
        }

        return (float)d;
    }
}
