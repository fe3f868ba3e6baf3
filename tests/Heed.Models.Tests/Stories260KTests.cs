using Heed.Models.Generation;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>The real stories260K model (llama2.c format, GQA 8/4) against llama2.c's own golden output.</summary>
public class Stories260KTests
{
    private const string Model = "models/stories260K/stories260K.bin";

    private static readonly Lazy<(LlamaModel Model, LlamaTokenizer Tokenizer)> Loaded = new(() =>
        (LlamaModel.Load(SharedData.Stories260K), LlamaTokenizer.Load(SharedData.Tok512)));

    [SharedFact(Model)]
    public void Header_is_read_as_documented()
    {
        LlamaConfig c = Loaded.Value.Model.Config;
        Assert.Equal(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, SharedClassifier: true), c);
        Assert.Same(Loaded.Value.Model.Weights.TokenEmbedding, Loaded.Value.Model.Weights.Classifier);
    }

    [SharedFact(Model)]
    public void Greedy_generation_from_an_empty_prompt_reproduces_llama2c_byte_for_byte()
    {
        (LlamaModel model, LlamaTokenizer tokenizer) = Loaded.Value;
        byte[] expected = File.ReadAllBytes(TestPaths.Shared("models", "stories260K", "expected-empty-prompt-200.txt"));
        using var streamed = new MemoryStream();
        GenerationResult result = TextGenerator.Generate(model, tokenizer, "", new GenerationOptions { Steps = 200 }, piece => streamed.Write(piece));

        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), result.Text);
        Assert.Equal(expected, streamed.ToArray());
        Assert.Equal(1, result.PromptTokens);
        Assert.False(result.StoppedAtBos);
        Assert.Equal(201, result.Tokens.Length); // BOS + one new token per position
    }
}
