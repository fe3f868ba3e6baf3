using Microsoft.Extensions.AI;

namespace Heed.Models.Bert;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a <see cref="SentenceEncoder"/>, so that
/// Semantic Kernel and Microsoft.Extensions.AI applications embed text with Heed, in process. Each call runs
/// <see cref="SentenceEncoder.Embed"/> with the options given here (pooling and normalization default to the model's own).
/// </summary>
public sealed class HeedEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly SentenceEncoder _encoder;
    private readonly EmbeddingOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Wraps an encoder; <paramref name="options"/> applies to every call (null = the model's defaults, one thread).</summary>
    public HeedEmbeddingGenerator(SentenceEncoder encoder, EmbeddingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        _encoder = encoder;
        _options = options ?? new EmbeddingOptions();
        if (_options.Pooling == EmbeddingPooling.None)
        {
            throw new HeedException("an embedding generator pools: choose mean or cls, not none");
        }

        _metadata = new EmbeddingGeneratorMetadata("heed", null, encoder.Name, encoder.Model.Config.Width);
    }

    /// <summary>Loads an encoder (see <see cref="SentenceEncoder.Load"/>) and wraps it.</summary>
    /// <exception cref="HeedException">The model cannot be loaded.</exception>
    public static HeedEmbeddingGenerator Load(string path, EmbeddingOptions? options = null) => new(SentenceEncoder.Load(path), options);

    /// <inheritdoc />
    /// <exception cref="NotSupportedException"><see cref="EmbeddingGenerationOptions.Dimensions"/> asks for another length than the model's.</exception>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        int width = _encoder.Model.Config.Width;
        if (options?.Dimensions is int dimensions && dimensions != width)
        {
            throw new NotSupportedException($"{_encoder.Name} gives {width} dimensions; {dimensions} were asked for");
        }

        string[] texts = [.. values];
        EmbeddingResult result = _encoder.Embed(texts, _options with { Cancellation = cancellationToken });
        DateTimeOffset now = DateTimeOffset.UtcNow;
        var embeddings = new GeneratedEmbeddings<Embedding<float>>(result.Embeddings!.Select(e => new Embedding<float>(e) { ModelId = _encoder.Name, CreatedAt = now }))
        {
            Usage = new UsageDetails { InputTokenCount = result.Tokens.Sum(t => t.Count), TotalTokenCount = result.Tokens.Sum(t => t.Count) },
        };
        return Task.FromResult(embeddings);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType == typeof(SentenceEncoder)) return _encoder;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Nothing to release: the encoder holds only managed memory.</summary>
    public void Dispose()
    {
    }
}
