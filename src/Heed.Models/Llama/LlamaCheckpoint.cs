using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Heed.Models.Blocks;

namespace Heed.Models.Llama;

/// <summary>One transformer block's weights, named as in llama2.c; every matrix is [out, in] (y = W·x).</summary>
public sealed class LlamaLayer
{
    /// <summary>rms_att_weight [C].</summary>
    public required float[] RmsAtt { get; init; }

    /// <summary>wq [C, C].</summary>
    public required WeightMatrix Wq { get; init; }

    /// <summary>wk [Hkv·D, C].</summary>
    public required WeightMatrix Wk { get; init; }

    /// <summary>wv [Hkv·D, C].</summary>
    public required WeightMatrix Wv { get; init; }

    /// <summary>wo [C, C].</summary>
    public required WeightMatrix Wo { get; init; }

    /// <summary>rms_ffn_weight [C].</summary>
    public required float[] RmsFfn { get; init; }

    /// <summary>w1 (gate) [hidden, C].</summary>
    public required WeightMatrix W1 { get; init; }

    /// <summary>w2 (down) [C, hidden].</summary>
    public required WeightMatrix W2 { get; init; }

    /// <summary>w3 (up) [hidden, C].</summary>
    public required WeightMatrix W3 { get; init; }
}

/// <summary>All weights of a Llama-architecture model.</summary>
public sealed class LlamaWeights
{
    /// <summary>
    /// token_embedding_table [V, C], in the type the file stores it (a quantized GGUF embedding stays quantized: one row is
    /// expanded per token, <see cref="WeightMatrix.DequantizeRow"/>). The same object as <see cref="Classifier"/> when the
    /// classifier is shared.
    /// </summary>
    public required WeightMatrix TokenEmbedding { get; init; }

    /// <summary>The blocks, first to last.</summary>
    public required IReadOnlyList<LlamaLayer> Layers { get; init; }

    /// <summary>rms_final_weight [C].</summary>
    public required float[] RmsFinal { get; init; }

    /// <summary>wcls [V, C]; <see cref="TokenEmbedding"/> itself when the classifier is shared.</summary>
    public required WeightMatrix Classifier { get; init; }

    /// <summary>Per-frequency divisors of RoPE [RoPE dimensions / 2] (GGUF <c>rope_freqs.weight</c>), or null.</summary>
    public float[]? RopeFactors { get; init; }
}

/// <summary>
/// Reads llama2.c checkpoints (the legacy <c>.bin</c> format written by its <c>export.py --version 0</c>):
/// seven little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then float32
/// arrays. Every header value is checked, and the file's length must be exactly what the header describes,
/// before anything is allocated: a header can never make Heed allocate more than the file holds.
/// </summary>
public static class LlamaCheckpoint
{
    private const int HeaderBytes = 7 * sizeof(int);

    /// <summary>Reads and validates the header only.</summary>
    /// <exception cref="HeedException">The file is missing, truncated, of another format, or its header is inconsistent.</exception>
    public static LlamaConfig ReadConfig(string path)
    {
        using FileStream stream = Open(path);
        return ReadConfig(stream, path);
    }

    /// <summary>Reads the header and every weight.</summary>
    /// <exception cref="HeedException">The file is missing, truncated, of another format, or its header is inconsistent.</exception>
    public static (LlamaConfig Config, LlamaWeights Weights) Load(string path)
    {
        using FileStream stream = Open(path);
        LlamaConfig config = ReadConfig(stream, path);
        int c = config.Dim, l = config.NumLayers, kv = config.KvDim, h = config.HiddenDim;
        long table = (long)config.VocabSize * c;
        ArraySegment<float> embedding = config.SharedClassifier ? ReadFloats(stream, AlignedStorage.Allocate<float>(table)) : new ArraySegment<float>(ReadFloats(stream, table));
        float[][] rmsAtt = ReadPerLayer(stream, l, c);
        ArraySegment<float>[] wq = ReadMatrices(stream, l, (long)c * c);
        ArraySegment<float>[] wk = ReadMatrices(stream, l, (long)kv * c);
        ArraySegment<float>[] wv = ReadMatrices(stream, l, (long)kv * c);
        ArraySegment<float>[] wo = ReadMatrices(stream, l, (long)c * c);
        float[][] rmsFfn = ReadPerLayer(stream, l, c);
        ArraySegment<float>[] w1 = ReadMatrices(stream, l, (long)h * c);
        ArraySegment<float>[] w2 = ReadMatrices(stream, l, (long)c * h);
        ArraySegment<float>[] w3 = ReadMatrices(stream, l, (long)h * c);
        float[] rmsFinal = ReadFloats(stream, c);
        stream.Seek((long)config.SeqLen * config.HeadSize * sizeof(float), SeekOrigin.Current); // freq_cis_real, freq_cis_imag: unused
        ArraySegment<float> classifier = config.SharedClassifier ? embedding : ReadFloats(stream, AlignedStorage.Allocate<float>(table));
        int v = config.VocabSize;
        var layers = new LlamaLayer[l];
        for (int i = 0; i < l; i++)
        {
            layers[i] = new LlamaLayer
            {
                RmsAtt = rmsAtt[i],
                Wq = WeightMatrix.FromFloats(wq[i], c, c),
                Wk = WeightMatrix.FromFloats(wk[i], kv, c),
                Wv = WeightMatrix.FromFloats(wv[i], kv, c),
                Wo = WeightMatrix.FromFloats(wo[i], c, c),
                RmsFfn = rmsFfn[i],
                W1 = WeightMatrix.FromFloats(w1[i], h, c),
                W2 = WeightMatrix.FromFloats(w2[i], c, h),
                W3 = WeightMatrix.FromFloats(w3[i], h, c),
            };
        }

        WeightMatrix embeddingMatrix = WeightMatrix.FromFloats(embedding, v, c);
        return (config, new LlamaWeights { TokenEmbedding = embeddingMatrix, Layers = layers, RmsFinal = rmsFinal, Classifier = config.SharedClassifier ? embeddingMatrix : WeightMatrix.FromFloats(classifier, v, c) });
    }

    private static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"checkpoint {path}: cannot read: {ex.Message}", ex);
        }
    }

    private static LlamaConfig ReadConfig(FileStream stream, string path)
    {
        long fileLength = stream.Length;
        if (fileLength < HeaderBytes)
        {
            throw new HeedException($"checkpoint {path}: {fileLength} bytes; a llama2.c checkpoint starts with a 28-byte header");
        }

        Span<byte> header = stackalloc byte[HeaderBytes];
        stream.ReadExactly(header);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) == 0x616B3432)
        {
            throw new HeedException($"checkpoint {path}: starts with the magic \"ak42\" of llama2.c's versioned export; Heed reads the legacy format (export.py --version 0)");
        }

        int dim = Field(header, 0), hidden = Field(header, 1), layers = Field(header, 2), heads = Field(header, 3);
        int kvHeads = Field(header, 4), vocab = Field(header, 5), seqLen = Field(header, 6);
        Positive(path, "dim", dim);
        Positive(path, "hidden_dim", hidden);
        Positive(path, "n_layers", layers);
        Positive(path, "n_heads", heads);
        Positive(path, "n_kv_heads", kvHeads);
        Positive(path, "seq_len", seqLen);
        if (vocab == 0 || vocab == int.MinValue)
        {
            throw new HeedException($"checkpoint {path}: header field vocab_size is {vocab}; expected a non-zero size");
        }

        if (dim % heads != 0)
        {
            throw new HeedException($"checkpoint {path}: dim {dim} is not a multiple of n_heads {heads}");
        }

        if (heads % kvHeads != 0)
        {
            throw new HeedException($"checkpoint {path}: n_heads {heads} is not a multiple of n_kv_heads {kvHeads}");
        }

        if ((dim / heads) % 2 != 0)
        {
            throw new HeedException($"checkpoint {path}: head size dim/n_heads = {dim / heads} is odd; RoPE rotates pairs");
        }

        var config = new LlamaConfig(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), seqLen, SharedClassifier: vocab > 0);
        long expected;
        try
        {
            expected = checked(HeaderBytes + (config.StoredFloatCount() * sizeof(float)));
        }
        catch (OverflowException)
        {
            throw new HeedException($"checkpoint {path}: the header (dim {dim}, hidden_dim {hidden}, n_layers {layers}, vocab_size {vocab}, seq_len {seqLen}) describes more data than any file holds");
        }

        if (fileLength < expected)
        {
            throw new HeedException($"checkpoint {path}: truncated or not a llama2.c checkpoint: the header (dim {dim}, hidden_dim {hidden}, n_layers {layers}, n_heads {heads}, n_kv_heads {kvHeads}, vocab_size {vocab}, seq_len {seqLen}) needs {expected} bytes but the file has {fileLength}");
        }

        if (fileLength > expected)
        {
            throw new HeedException($"checkpoint {path}: {fileLength - expected} bytes more than the header (dim {dim}, n_layers {layers}, vocab_size {vocab}) describes ({expected}): not a llama2.c legacy checkpoint");
        }

        long largest = Math.Max(Math.Max((long)config.VocabSize * dim, (long)dim * dim), (long)hidden * dim);
        if (largest > Array.MaxLength)
        {
            throw new HeedException($"checkpoint {path}: one weight matrix would hold {largest} floats, more than one .NET array can ({Array.MaxLength})");
        }

        return config;
    }

    private static int Field(ReadOnlySpan<byte> header, int index) => BinaryPrimitives.ReadInt32LittleEndian(header[(index * 4)..]);

    private static void Positive(string path, string field, int value)
    {
        if (value <= 0)
        {
            throw new HeedException($"checkpoint {path}: header field {field} is {value}; expected > 0");
        }
    }

    private static float[][] ReadPerLayer(Stream stream, int layers, long count)
    {
        var result = new float[layers][];
        for (int i = 0; i < layers; i++) result[i] = ReadFloats(stream, count);
        return result;
    }

    // The matrices start on cache lines for the decode products (AlignedStorage); so does a token embedding that is also the
    // classifier.
    private static ArraySegment<float>[] ReadMatrices(Stream stream, int layers, long count)
    {
        var result = new ArraySegment<float>[layers];
        for (int i = 0; i < layers; i++) result[i] = ReadFloats(stream, AlignedStorage.Allocate<float>(count));
        return result;
    }

    // The length was checked against the file before any allocation.
    private static float[] ReadFloats(Stream stream, long count) => ReadFloats(stream, new ArraySegment<float>(new float[count])).Array!;

    private static ArraySegment<float> ReadFloats(Stream stream, ArraySegment<float> data)
    {
        stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            Span<int> bits = MemoryMarshal.Cast<float, int>(data.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }

        return data;
    }
}
