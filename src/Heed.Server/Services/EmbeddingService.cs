using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Heed.Models.Bert;

namespace Heed.Server.Services;

/// <summary>How token vectors become one vector per text (the values of <c>heed embed --pooling</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EmbedPooling>))]
public enum EmbedPooling
{
    /// <summary>The mean of every token's last hidden state.</summary>
    [JsonStringEnumMemberName("mean")]
    Mean,

    /// <summary>The last hidden state of [CLS].</summary>
    [JsonStringEnumMemberName("cls")]
    Cls,

    /// <summary>No pooling: each text's last hidden state [T, C].</summary>
    [JsonStringEnumMemberName("none")]
    None,
}

/// <summary>Texts to embed with an encoder: the fields of <c>heed embed</c>.</summary>
public sealed record EmbedRequest
{
    /// <summary>The encoder's model id.</summary>
    [Description("The id of an encoder (GET /api/v1/models lists them with kind \"encoder\"): a Hugging Face BERT folder or an ONNX export such as all-MiniLM-L6-v2.")]
    [Required]
    public string? Model { get; init; }

    /// <summary>The texts, one vector each.</summary>
    [Description("The texts to embed, one vector each (the server's limits bound their number and their tokens together; each text is truncated to the model's maximum length).")]
    [Required]
    public string[]? Texts { get; init; }

    /// <summary>mean, cls or none; default the model's sentence-transformers config, else mean.</summary>
    [Description("mean, cls, or none for each text's last hidden state [T, C] under hidden_states; default the model's sentence-transformers pooling, else mean.")]
    public EmbedPooling? Pooling { get; init; }

    /// <summary>Scale pooled vectors to length 1; default the model's sentence-transformers config, else true.</summary>
    [Description("Scale each pooled vector to length 1; default the model's sentence-transformers pipeline (a Normalize module), else true. Ignored with pooling none.")]
    public bool? Normalize { get; init; }
}

/// <summary>Embeddings as <c>heed embed</c> writes them: the same fields, names and values.</summary>
/// <param name="Model">The model id.</param>
/// <param name="Dimensions">C, the length of each vector.</param>
/// <param name="Pooling">mean, cls or none.</param>
/// <param name="Normalized">Whether each embedding has length 1 (false for hidden states).</param>
/// <param name="Tokens">Each text's tokens as the model read them ([CLS], the pieces, [SEP]).</param>
/// <param name="Embeddings">One vector [C] per text; absent when the pooling is none.</param>
/// <param name="HiddenStates">Per text its last hidden state [T][C]; present only when the pooling is none.</param>
public sealed record EmbedResponse(
    [property: Description("The model id.")] string Model,
    [property: Description("C, the length of each vector.")] int Dimensions,
    [property: Description("The pooling used: mean, cls or none.")] string Pooling,
    [property: Description("Whether each embedding has length 1 (false for hidden states).")] bool Normalized,
    [property: Description("Each text's tokens as the model read them: [CLS], the word pieces, [SEP].")] IReadOnlyList<IReadOnlyList<string>> Tokens,
    [property: Description("One vector of dimensions numbers per text, in the order of texts; absent when the pooling is none.")] IReadOnlyList<float[]>? Embeddings,
    [property: JsonPropertyName("hidden_states"), Description("Per text its last hidden state, one row of dimensions numbers per token; present only when the pooling is none.")] IReadOnlyList<float[][]>? HiddenStates);

/// <summary>
/// Sentence embeddings from the catalog's encoders through Heed.Models' <see cref="SentenceEncoder"/> (what <c>heed embed</c>
/// runs): the texts are tokenized and bounded first (their number and their tokens together), then run in batches of similar
/// length; the cancellation token stops the forward pass between layers.
/// </summary>
public sealed class EmbeddingService
{
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the service over the catalog.</summary>
    public EmbeddingService(ModelCatalog models, ServerLimits limits)
    {
        _models = models;
        _limits = limits;
    }

    /// <summary>Embeds the texts.</summary>
    /// <exception cref="HeedException">A field is missing or out of bounds, or the model is not an encoder.</exception>
    /// <exception cref="HeedNotFoundException">No such model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public EmbedResponse Embed(EmbedRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string model = request.Model ?? throw new HeedException("model: required; the id of an encoder (GET /api/v1/models, kind \"encoder\")");
        string[] texts = request.Texts ?? throw new HeedException("texts: required; expected an array of strings");
        if (texts.Length == 0) throw new HeedException("texts: empty; expected at least one text");
        if (texts.Length > _limits.MaxEmbedTexts) throw new HeedException($"texts: {texts.Length} texts; the server's limit is {_limits.MaxEmbedTexts} per request");
        int missing = Array.IndexOf(texts, null);
        if (missing >= 0) throw new HeedException($"texts[{missing}]: null; expected a string");

        SentenceEncoder encoder = _models.LoadEncoder(model);
        long tokens = texts.Sum(t => (long)encoder.Tokenizer.EncodeForModel(t, encoder.MaxLength).Length);
        if (tokens > _limits.MaxEmbedTokens)
        {
            throw new HeedException($"texts: {tokens} tokens in all ([CLS] and [SEP] included); the server's limit is {_limits.MaxEmbedTokens} per request");
        }

        EmbeddingResult result = encoder.Embed(texts, new EmbeddingOptions
        {
            Pooling = request.Pooling switch
            {
                EmbedPooling.Mean => EmbeddingPooling.Mean,
                EmbedPooling.Cls => EmbeddingPooling.Cls,
                EmbedPooling.None => EmbeddingPooling.None,
                _ => null,
            },
            Normalize = request.Normalize,
            Threads = Environment.ProcessorCount,
            Cancellation = cancellation,
        });
        return new EmbedResponse(model, result.Dimensions, result.Pooling, result.Normalized, result.Tokens, result.Embeddings, result.HiddenStates);
    }
}
