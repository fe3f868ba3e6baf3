using Heed.Models.Bert;
using Microsoft.Extensions.AI;

namespace Heed.Models.OnnxTests;

/// <summary>Microsoft.Extensions.AI's IEmbeddingGenerator over the real all-MiniLM-L6-v2.</summary>
public class EmbeddingGeneratorTests
{
    [Fact]
    public async Task Generated_embeddings_are_the_encoders_and_similar_sentences_are_closest()
    {
        SentenceEncoder encoder = SentenceEncoder.Load(MiniLm.Folder);
        using var generator = new HeedEmbeddingGenerator(encoder);
        string[] texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."];

        GeneratedEmbeddings<Embedding<float>> result = await generator.GenerateAsync(texts);

        EmbeddingResult direct = encoder.Embed(texts);
        Assert.Equal(3, result.Count);
        for (int i = 0; i < 3; i++) Assert.Equal(direct.Embeddings![i], result[i].Vector.ToArray());
        Assert.Equal(direct.Tokens.Sum(t => t.Count), result.Usage!.InputTokenCount);
        double Cosine(int a, int b) => result[a].Vector.Span.ToArray().Zip(result[b].Vector.ToArray(), (x, y) => (double)x * y).Sum();
        Assert.True(Cosine(0, 1) > Cosine(0, 2) + 0.3, $"{Cosine(0, 1)} vs {Cosine(0, 2)}");

        var metadata = (EmbeddingGeneratorMetadata)generator.GetService(typeof(EmbeddingGeneratorMetadata))!;
        Assert.Equal(("heed", 384), (metadata.ProviderName, metadata.DefaultModelDimensions));
        await Assert.ThrowsAsync<NotSupportedException>(() => generator.GenerateAsync(texts, new EmbeddingGenerationOptions { Dimensions = 128 }));
    }
}
