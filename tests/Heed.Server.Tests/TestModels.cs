namespace Heed.Server.Tests;

/// <summary>
/// A models folder for the embedding and generation tests: stories260K as a llama2.c folder (checkpoint and tok512.bin) and as
/// its F32 GGUF file, from ../shared, and tiny-bert, a random BERT written by <see cref="TinyEncoder"/> as a Hugging Face folder.
/// </summary>
internal static class TestModels
{
    public const string Llama2c = "stories260K";
    public const string Gguf = "stories260K.f32.gguf";
    public const string Encoder = "tiny-bert";

    /// <summary>A new folder holding the three models; the test fails, naming what is absent, without ../shared.</summary>
    public static string Folder()
    {
        string? missing = TestPaths.MissingReason("models/stories260K/stories260K.bin", "models/stories260K/tok512.bin", "models/stories260K/stories260K.f32.gguf");
        Assert.True(missing is null, missing);
        string models = ServerHarness.NewFolder();
        string stories = TestPaths.Shared("models", "stories260K");
        Directory.CreateDirectory(Path.Combine(models, Llama2c));
        File.Copy(Path.Combine(stories, "stories260K.bin"), Path.Combine(models, Llama2c, "stories260K.bin"));
        File.Copy(Path.Combine(stories, "tok512.bin"), Path.Combine(models, Llama2c, "tok512.bin"));
        File.Copy(Path.Combine(stories, Gguf), Path.Combine(models, Gguf));
        Directory.CreateDirectory(Path.Combine(models, Encoder));
        TinyEncoder.Write(Path.Combine(models, Encoder));
        return models;
    }

    /// <summary>The first characters of stories260K's greedy text from an empty prompt (llama2.c's output).</summary>
    public static string GreedyFromEmptyPrompt() => File.ReadAllText(TestPaths.Shared("models", "stories260K", "expected-empty-prompt-200.txt"));
}
