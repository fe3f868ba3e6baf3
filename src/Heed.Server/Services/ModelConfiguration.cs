using System.ComponentModel;

namespace Heed.Server.Services;

/// <summary>
/// A model's configuration in one shape for every format: the sizes an agent needs to choose a layer, a head or a prompt
/// length. A field the model's format does not have is left out (a toy model has no context length, a checkpoint no
/// per-head scales).
/// </summary>
public sealed record ModelConfiguration
{
    /// <summary>The model id.</summary>
    [Description("The model id.")]
    public required string Id { get; init; }

    /// <summary>heed-toy, llama2c, gguf, gpt2-safetensors, bert-safetensors, bert-onnx or unknown (as in the model list).</summary>
    [Description("The file format: heed-toy, llama2c, gguf, gpt2-safetensors, bert-safetensors, bert-onnx or unknown (as in the model list).")]
    public required string Format { get; init; }

    /// <summary>toy (word embeddings and attention heads only), llama, gpt2 or bert; absent for unknown formats.</summary>
    [Description("The network: toy (word embeddings and attention heads only), llama, gpt2 or bert (an encoder); absent for unknown formats.")]
    public string? Architecture { get; init; }

    /// <summary>C, the model width.</summary>
    [Description("C, the model width (embedding size).")]
    public int? Width { get; init; }

    /// <summary>The number of transformer blocks (attention layers).</summary>
    [Description("The number of layers (transformer blocks); layer indices run from 0 to numLayers - 1.")]
    public int? NumLayers { get; init; }

    /// <summary>H, query heads in every layer.</summary>
    [Description("H, the query heads in every layer; head indices run from 0 to numHeads - 1.")]
    public int? NumHeads { get; init; }

    /// <summary>Hkv, key/value heads (fewer than H under grouped-query attention).</summary>
    [Description("Hkv, the key/value heads in every layer (fewer than numHeads under grouped-query attention).")]
    public int? NumKvHeads { get; init; }

    /// <summary>D, the query/key size of a head (the same for every head of a checkpoint).</summary>
    [Description("D, the size of each head's queries and keys (checkpoints; a toy model gives it per head under layers).")]
    public int? HeadSize { get; init; }

    /// <summary>The feed-forward (MLP) width.</summary>
    [Description("The feed-forward (MLP) width.")]
    public int? FeedForwardWidth { get; init; }

    /// <summary>V, the vocabulary size (tokens, or words of a toy model).</summary>
    [Description("V, the vocabulary size: tokens, or the words of a toy model.")]
    public int? VocabularySize { get; init; }

    /// <summary>The longest sequence, in tokens, the model has positions for.</summary>
    [Description("The longest sequence, in tokens, the model has positions for.")]
    public int? ContextLength { get; init; }

    /// <summary>ε of the model's normalisation (RMSNorm for llama, LayerNorm for gpt2).</summary>
    [Description("Epsilon of the model's normalisation (RMSNorm for llama, LayerNorm for gpt2).")]
    public double? NormEpsilon { get; init; }

    /// <summary>θ of the rotary position embedding (llama).</summary>
    [Description("Theta (base) of the rotary position embedding (llama).")]
    public double? RopeTheta { get; init; }

    /// <summary>The feed-forward activation: silu-gated for llama, the config's activation for gpt2.</summary>
    [Description("The feed-forward activation: swiglu for llama, the config's activation function for gpt2.")]
    public string? Activation { get; init; }

    /// <summary>Whether the output classifier reuses the token embedding table.</summary>
    [Description("Whether the output classifier reuses the token embedding table (tied embeddings).")]
    public bool? TiedEmbeddings { get; init; }

    /// <summary>A toy model's rule for words outside its vocabulary: hash (a fixed vector per word) or error.</summary>
    [Description("A toy model's rule for words outside its vocabulary: hash (a fixed vector per word) or error.")]
    public string? UnknownWords { get; init; }

    /// <summary>A toy model's heads, layer by layer.</summary>
    [Description("A toy model's heads, layer by layer: each head's sizes and score scale.")]
    public IReadOnlyList<IReadOnlyList<HeadConfiguration>>? Layers { get; init; }
}

/// <summary>One head of a toy model.</summary>
/// <param name="HeadSize">D, the size of its queries and keys.</param>
/// <param name="ValueHeadSize">Dv, the size of its values.</param>
/// <param name="Scale">The factor on q·k (absent: 1/√D).</param>
public sealed record HeadConfiguration(
    [property: Description("D, the size of the head's queries and keys.")] int HeadSize,
    [property: Description("Dv, the size of the head's values.")] int ValueHeadSize,
    [property: Description("The factor on q·k; absent means 1/sqrt(D).")] double? Scale);
