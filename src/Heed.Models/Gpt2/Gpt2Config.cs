using System.Text.Json;

namespace Heed.Models.Gpt2;

/// <summary>The hyperparameters of a GPT-2 model, read from Hugging Face's config.json.</summary>
/// <param name="Width">C (<c>n_embd</c>).</param>
/// <param name="NumHeads">H (<c>n_head</c>).</param>
/// <param name="NumLayers">L (<c>n_layer</c>).</param>
/// <param name="ContextLength">Positions (<c>n_positions</c>).</param>
/// <param name="VocabSize">V (<c>vocab_size</c>).</param>
public sealed record Gpt2Config(int Width, int NumHeads, int NumLayers, int ContextLength, int VocabSize)
{
    /// <summary>ε of LayerNorm (<c>layer_norm_epsilon</c>).</summary>
    public float LayerNormEpsilon { get; init; } = 1e-5f;

    /// <summary>The feed-forward width (<c>n_inner</c>, default 4·C).</summary>
    public int InnerWidth { get; init; }

    /// <summary><c>activation_function</c>: "gelu_new" (tanh approximation, GPT-2's), "gelu_pytorch_tanh", "gelu_fast" or "gelu" (exact).</summary>
    public string Activation { get; init; } = "gelu_new";

    /// <summary>D = C / H.</summary>
    public int HeadSize => Width / NumHeads;

    /// <summary>Reads config.json.</summary>
    /// <exception cref="HeedException">The file is missing, not JSON, or lacks or breaks a field.</exception>
    public static Gpt2Config Load(string path)
    {
        JsonElement root;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            root = doc.RootElement.Clone();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new HeedException($"{path}: cannot read a GPT-2 config: {ex.Message}", ex);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new HeedException($"{path}: not a JSON object");
        }

        int Int(string name, int? fallback = null)
        {
            if (root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v))
            {
                if (v <= 0) throw new HeedException($"{path}: {name} is {v}; expected > 0");
                return v;
            }

            if (root.TryGetProperty(name, out JsonElement bad) && bad.ValueKind != JsonValueKind.Null)
            {
                throw new HeedException($"{path}: {name} is {bad.GetRawText()}; expected a positive integer");
            }

            return fallback ?? throw new HeedException($"{path}: field {name} is missing");
        }

        int width = Int("n_embd"), heads = Int("n_head"), layers = Int("n_layer"), vocab = Int("vocab_size");
        int context = Int("n_positions", root.TryGetProperty("n_ctx", out _) ? Int("n_ctx") : null);
        if (width % heads != 0)
        {
            throw new HeedException($"{path}: n_embd {width} is not a multiple of n_head {heads}");
        }

        string activation = root.TryGetProperty("activation_function", out JsonElement a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "gelu_new";
        if (activation is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" or "gelu"))
        {
            throw new HeedException($"{path}: activation_function \"{activation}\" is not supported (gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)");
        }

        float epsilon = root.TryGetProperty("layer_norm_epsilon", out JsonElement eps) && eps.ValueKind == JsonValueKind.Number ? (float)eps.GetDouble() : 1e-5f;
        return new Gpt2Config(width, heads, layers, context, vocab)
        {
            LayerNormEpsilon = epsilon,
            InnerWidth = Int("n_inner", 4 * width),
            Activation = activation,
        };
    }
}
