using System.Text.Json;

namespace Heed.Models.Bert;

/// <summary>
/// The hyperparameters of a BERT-family encoder (BERT, MiniLM, BGE, E5), named as in Hugging Face's config.json.
/// </summary>
/// <param name="VocabSize">V (<c>vocab_size</c>).</param>
/// <param name="Width">C (<c>hidden_size</c>).</param>
/// <param name="NumLayers">L (<c>num_hidden_layers</c>).</param>
/// <param name="NumHeads">H (<c>num_attention_heads</c>).</param>
/// <param name="InnerWidth">The feed-forward width (<c>intermediate_size</c>).</param>
/// <param name="MaxPositions">The position table's length (<c>max_position_embeddings</c>): the longest input.</param>
public sealed record BertConfig(int VocabSize, int Width, int NumLayers, int NumHeads, int InnerWidth, int MaxPositions)
{
    private static readonly string[] Architectures = ["BertModel"];

    /// <summary>Rows of the token-type table (<c>type_vocab_size</c>).</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary>ε of every LayerNorm (<c>layer_norm_eps</c>).</summary>
    public float LayerNormEpsilon { get; init; } = 1e-12f;

    /// <summary>The feed-forward activation (<c>hidden_act</c>): "gelu" (erf) is the one supported.</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>D = C / H.</summary>
    public int HeadSize => Width / NumHeads;

    /// <summary>Checks that the sizes are positive and that H divides C.</summary>
    /// <exception cref="HeedException">A size breaks a rule.</exception>
    public BertConfig Validate(string source)
    {
        foreach ((string name, int value) in (ReadOnlySpan<(string, int)>)[("vocab_size", VocabSize), ("hidden_size", Width), ("num_hidden_layers", NumLayers),
            ("num_attention_heads", NumHeads), ("intermediate_size", InnerWidth), ("max_position_embeddings", MaxPositions), ("type_vocab_size", TypeVocabSize)])
        {
            if (value <= 0) throw new HeedException($"{source}: {name} is {value}; expected > 0");
        }

        if (Width % NumHeads != 0)
        {
            throw new HeedException($"{source}: hidden_size {Width} is not a multiple of num_attention_heads {NumHeads}");
        }

        if (Activation != "gelu")
        {
            throw new HeedException($"{source}: hidden_act \"{Activation}\" is not supported (gelu)");
        }

        return this;
    }

    /// <summary>Reads a Hugging Face config.json of a BERT-family model.</summary>
    /// <exception cref="HeedException">The file is missing, not JSON, or lacks or breaks a field.</exception>
    public static BertConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        JsonElement root;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            root = doc.RootElement.Clone();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new HeedException($"{path}: cannot read a BERT config: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new HeedException($"{path}: not a JSON object");
        }

        int Int(string name, int? fallback = null)
        {
            if (root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)) return v;
            if (root.TryGetProperty(name, out JsonElement bad) && bad.ValueKind != JsonValueKind.Null)
            {
                throw new HeedException($"{path}: {name} is {bad.GetRawText()}; expected an integer");
            }

            return fallback ?? throw new HeedException($"{path}: field {name} is missing");
        }

        string activation = root.TryGetProperty("hidden_act", out JsonElement a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "gelu";
        float epsilon = root.TryGetProperty("layer_norm_eps", out JsonElement eps) && eps.ValueKind == JsonValueKind.Number ? (float)eps.GetDouble() : 1e-12f;
        int width = Int("hidden_size");
        return new BertConfig(Int("vocab_size"), width, Int("num_hidden_layers"), Int("num_attention_heads"), Int("intermediate_size", 4 * width), Int("max_position_embeddings", 512))
        {
            TypeVocabSize = Int("type_vocab_size", 2),
            LayerNormEpsilon = epsilon,
            Activation = activation,
        }.Validate(path);
    }

    /// <summary>This config as Hugging Face writes it (model_type "bert").</summary>
    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["model_type"] = "bert",
        ["architectures"] = Architectures,
        ["vocab_size"] = VocabSize,
        ["hidden_size"] = Width,
        ["num_hidden_layers"] = NumLayers,
        ["num_attention_heads"] = NumHeads,
        ["intermediate_size"] = InnerWidth,
        ["max_position_embeddings"] = MaxPositions,
        ["type_vocab_size"] = TypeVocabSize,
        ["layer_norm_eps"] = LayerNormEpsilon,
        ["hidden_act"] = Activation,
    });
}
