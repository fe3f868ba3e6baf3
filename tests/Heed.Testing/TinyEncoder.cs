using Heed.IO;

namespace Heed.Testing;

/// <summary>
/// A random BERT (2 layers, 2 heads, width 8, 16 positions) written as a Hugging Face folder: config.json, model.safetensors
/// (Heed's safetensors writer) and vocab.txt. Its config.json is written here as the Hugging Face file is, so that this
/// library needs only Heed.Core.
/// </summary>
public static class TinyEncoder
{
    /// <summary>The vocabulary, one piece per id.</summary>
    public static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", ".", "##s"];

    /// <summary>Writes the three files into <paramref name="folder"/>; the same seed gives the same weights.</summary>
    /// <param name="folder">An existing folder.</param>
    /// <param name="seed">The seed of the random weights.</param>
    public static void Write(string folder, int seed = 7)
    {
        const int Width = 8, Inner = 16, Positions = 16, Layers = 2;
        var random = new Random(seed);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        void Add(string name, params int[] shape)
        {
            bool norm = name.Contains("LayerNorm.weight", StringComparison.Ordinal);
            float[] data = [.. Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => norm ? 1f + (float)(random.NextDouble() * 0.2) : (float)((random.NextDouble() * 2) - 1) * 0.5f)];
            tensors[name] = new Tensor<float>(shape, data);
        }

        Add("embeddings.word_embeddings.weight", Vocab.Length, Width);
        Add("embeddings.position_embeddings.weight", Positions, Width);
        Add("embeddings.token_type_embeddings.weight", 2, Width);
        Add("embeddings.LayerNorm.weight", Width);
        Add("embeddings.LayerNorm.bias", Width);
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string dense in (string[])["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"])
            {
                Add(p + dense + ".weight", Width, Width);
                Add(p + dense + ".bias", Width);
            }

            Add(p + "intermediate.dense.weight", Inner, Width);
            Add(p + "intermediate.dense.bias", Inner);
            Add(p + "output.dense.weight", Width, Inner);
            Add(p + "output.dense.bias", Width);
            foreach (string norm in (string[])["attention.output.LayerNorm", "output.LayerNorm"])
            {
                Add(p + norm + ".weight", Width);
                Add(p + norm + ".bias", Width);
            }
        }

        Safetensors.Write(Path.Combine(folder, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(folder, "config.json"), $$"""
            {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": {{Vocab.Length}}, "hidden_size": {{Width}}, "num_hidden_layers": {{Layers}},
             "num_attention_heads": 2, "intermediate_size": {{Inner}}, "max_position_embeddings": {{Positions}}, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
            """);
        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), Vocab);
    }
}
