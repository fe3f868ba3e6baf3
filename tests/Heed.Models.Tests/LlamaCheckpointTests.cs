using Heed.Models.Blocks;
using Heed.Models.Generation;
using Heed.Models.Llama;

namespace Heed.Models.Tests;

/// <summary>llama2.c checkpoint reading: every header field checked, the file's length must match, nothing over-allocated.</summary>
public class LlamaCheckpointTests
{
    /// <summary>Writes a random llama2.c checkpoint: header, then the arrays in the README's order.</summary>
    internal static byte[] Write(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen, bool shared, int seed = 1)
    {
        var config = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared);
        var random = new Random(seed);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        foreach (int v in new[] { dim, hidden, layers, heads, kvHeads, shared ? vocab : -vocab, seqLen }) writer.Write(v);
        long count = config.StoredFloatCount();
        for (long i = 0; i < count; i++) writer.Write((float)((random.NextDouble() * 2) - 1) * 0.5f);
        writer.Flush();
        return stream.ToArray();
    }

    private static string Save(TempFolder folder, byte[] bytes, string name = "m.bin")
    {
        string path = folder.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_tiny_checkpoint_loads_with_a_shared_or_separate_classifier(bool shared)
    {
        using var folder = new TempFolder();
        string path = Save(folder, Write(16, 24, 2, 4, 2, 40, 12, shared));
        LlamaModel model = LlamaModel.Load(path);
        Assert.Equal(shared, ReferenceEquals(model.Weights.TokenEmbedding, model.Weights.Classifier));
        foreach (LlamaLayer layer in model.Weights.Layers)
        {
            foreach (WeightMatrix m in (WeightMatrix[])[layer.Wq, layer.Wk, layer.Wv, layer.Wo, layer.W1, layer.W2, layer.W3])
            {
                Assert.Equal(0, Address(m.Floats) % 64); // each matrix starts on a cache line for the decode products
            }
        }

        Assert.Equal(0, Address(model.Weights.Classifier.Floats) % 64); // shared or not: the classifier is a decode product too
        Assert.Equal(4, model.Config.HeadSize);
        int[] tokens = [1, 7, 3, 39, 0, 12];
        double[][] expected = LlamaReference.Logits(model, tokens);
        Tensor<float> logits = model.Forward(tokens).Logits;
        for (int t = 0; t < tokens.Length; t++)
        {
            double max = 0;
            for (int i = 0; i < 40; i++) max = Math.Max(max, Math.Abs(expected[t][i] - logits.Data[(t * 40) + i]));
            Assert.True(max < 1e-4, $"position {t}: max diff {max:E3}");
        }
    }

    /// <summary>The address of the first value.</summary>
    internal static unsafe long Address(ReadOnlySpan<float> values)
    {
        fixed (float* p = values)
        {
            return (long)p;
        }
    }

    [Fact]
    public void A_truncated_file_names_what_the_header_needs()
    {
        using var folder = new TempFolder();
        byte[] bytes = Write(16, 24, 2, 4, 2, 40, 12, true);
        string path = Save(folder, bytes[..^4]);
        HeedAssert.Fails(() => LlamaModel.Load(path), "m.bin", "truncated", $"needs {bytes.Length} bytes", $"has {bytes.Length - 4}");
        HeedAssert.Fails(() => LlamaModel.Load(Save(folder, bytes[..20], "h.bin")), "h.bin", "28-byte header");
    }

    [Fact]
    public void Extra_bytes_after_the_weights_are_refused()
    {
        using var folder = new TempFolder();
        string path = Save(folder, [.. Write(16, 24, 2, 4, 2, 40, 12, true), 0, 0, 0, 0]);
        HeedAssert.Fails(() => LlamaModel.Load(path), "4 bytes more than the header");
    }

    [Theory]
    [InlineData(0, 24, 2, 4, 2, 40, 12, "dim is 0")]
    [InlineData(16, -1, 2, 4, 2, 40, 12, "hidden_dim is -1")]
    [InlineData(16, 24, 0, 4, 2, 40, 12, "n_layers is 0")]
    [InlineData(16, 24, 2, 3, 1, 40, 12, "dim 16 is not a multiple of n_heads 3")]
    [InlineData(16, 24, 2, 4, 3, 40, 12, "n_heads 4 is not a multiple of n_kv_heads 3")]
    [InlineData(12, 24, 2, 4, 2, 40, 12, "head size dim/n_heads = 3 is odd")]
    [InlineData(16, 24, 2, 4, 2, 0, 12, "vocab_size is 0")]
    [InlineData(16, 24, 2, 4, 2, 40, -12, "seq_len is -12")]
    public void Inconsistent_header_fields_are_named(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen, string fragment)
    {
        using var folder = new TempFolder();
        byte[] bytes = Write(16, 24, 2, 4, 2, 40, 12, true);
        int[] header = [dim, hidden, layers, heads, kvHeads, vocab, seqLen];
        for (int i = 0; i < 7; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), header[i]);
        HeedAssert.Fails(() => LlamaModel.Load(Save(folder, bytes)), fragment);
    }

    [Theory]
    [InlineData(int.MaxValue - 1, 1 << 30, 1 << 20, 2, 2, int.MaxValue, int.MaxValue)] // overflows 64-bit arithmetic
    [InlineData(1 << 14, 1 << 16, 64, 128, 8, 1 << 17, 1 << 16)]                        // a real 30 GB model's header on a tiny file
    public void A_huge_header_on_a_small_file_allocates_nothing(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen)
    {
        using var folder = new TempFolder();
        byte[] bytes = new byte[1024];
        int[] header = [dim, hidden, layers, heads, kvHeads, vocab, seqLen];
        for (int i = 0; i < 7; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), header[i]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        HeedException ex = HeedAssert.Fails(() => LlamaModel.Load(Save(folder, bytes)), "m.bin");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes before refusing: {ex.Message}");
    }

    [Fact]
    public void Versioned_exports_are_refused_by_their_magic()
    {
        using var folder = new TempFolder();
        byte[] bytes = new byte[256];
        "24ka"u8.CopyTo(bytes); // uint32 0x616B3432 ("ak42") little-endian
        HeedAssert.Fails(() => LlamaModel.Load(Save(folder, bytes)), "ak42", "--version 0");
    }

    [Fact]
    public void A_missing_file_is_one_line()
    {
        HeedAssert.Fails(() => LlamaModel.Load("/nonexistent/m.bin"), "/nonexistent/m.bin", "cannot read");
    }
}
