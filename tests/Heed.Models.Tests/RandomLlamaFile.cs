namespace Heed.Models.Tests;

/// <summary>The sizes of a random llama GGUF file.</summary>
internal sealed record RandomLlamaShape(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Vocab, int Context)
{
    public static readonly RandomLlamaShape Tiny = new(256, 512, 2, 4, 2, 300, 16);

    public static readonly RandomLlamaShape Stories15M = new(288, 768, 6, 6, 6, 32000, 256);

    public static readonly RandomLlamaShape Stories110M = new(768, 2048, 12, 12, 12, 32000, 1024);
}

/// <summary>
/// GGUF files of the llama architecture with random weights, written with <see cref="GgufWriter"/>: llama.* metadata,
/// then token_embd, per layer attn_norm, attn_q/k/v/output, ffn_norm, ffn_gate/down/up, then output_norm and (untied)
/// output; matrices uniform in ±range, embedding in ±embeddingRange, norms in [0.5, 1.5) or 1.
/// </summary>
internal static class RandomLlamaFile
{
    /// <param name="shape">The sizes.</param>
    /// <param name="type">The ggml type of every matrix.</param>
    /// <param name="random">The source of the weights.</param>
    /// <param name="tied">No output.weight: the classifier is the embedding.</param>
    /// <param name="metadata">Adds or overrides keys (a vocabulary, a broken value) before the tensors.</param>
    /// <param name="tensor">Replaces a tensor's (shape, type, bytes) by name; null keeps it.</param>
    /// <param name="range">Half-width of the matrices' uniform values.</param>
    /// <param name="embeddingRange">Half-width of the embedding's values.</param>
    /// <param name="unitNorms">Norm weights all 1 instead of random.</param>
    public static GgufWriter Create(
        RandomLlamaShape shape,
        uint type,
        Random random,
        bool tied = false,
        Action<GgufWriter>? metadata = null,
        Func<string, (long[] Shape, uint Type, byte[] Data)?>? tensor = null,
        double range = 0.1,
        double embeddingRange = 1.0,
        bool unitNorms = false)
    {
        (int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int context) = shape;
        int kvDim = dim / heads * kvHeads;
        var w = new GgufWriter()
            .String("general.architecture", "llama")
            .UInt32("general.alignment", 32)
            .UInt32("llama.context_length", (uint)context)
            .UInt32("llama.embedding_length", (uint)dim)
            .UInt32("llama.block_count", (uint)layers)
            .UInt32("llama.feed_forward_length", (uint)hidden)
            .UInt32("llama.attention.head_count", (uint)heads)
            .UInt32("llama.attention.head_count_kv", (uint)kvHeads)
            .UInt32("llama.rope.dimension_count", (uint)(dim / heads))
            .Float32("llama.rope.freq_base", 10000f)
            .Float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        metadata?.Invoke(w);
        void Add(string name, long[] extents, Func<byte[]> data)
        {
            if (tensor?.Invoke(name) is (long[] s, uint t, byte[] d)) w.Tensor(name, s, t, d);
            else w.Tensor(name, extents, type, data());
        }

        void Matrix(string name, int rows, int columns, double r) => Add(name, [columns, rows], () => GgmlBlocks.Random(type, rows, columns, random, r));
        void Norm(string name)
        {
            byte[] values = [.. Enumerable.Range(0, dim).SelectMany(_ => BitConverter.GetBytes(unitNorms ? 1f : (float)(0.5 + random.NextDouble())))];
            if (tensor?.Invoke(name) is (long[] s, uint t, byte[] d)) w.Tensor(name, s, t, d);
            else w.Tensor(name, [dim], GgmlBlocks.F32, values);
        }

        Matrix("token_embd.weight", vocab, dim, embeddingRange);
        for (int l = 0; l < layers; l++)
        {
            Norm($"blk.{l}.attn_norm.weight");
            Matrix($"blk.{l}.attn_q.weight", dim, dim, range);
            Matrix($"blk.{l}.attn_k.weight", kvDim, dim, range);
            Matrix($"blk.{l}.attn_v.weight", kvDim, dim, range);
            Matrix($"blk.{l}.attn_output.weight", dim, dim, range);
            Norm($"blk.{l}.ffn_norm.weight");
            Matrix($"blk.{l}.ffn_gate.weight", hidden, dim, range);
            Matrix($"blk.{l}.ffn_down.weight", dim, hidden, range);
            Matrix($"blk.{l}.ffn_up.weight", hidden, dim, range);
        }

        Norm("output_norm.weight");
        if (!tied) Matrix("output.weight", vocab, dim, range);
        return w;
    }
}
