namespace Heed.Explain.Tests;

/// <summary>The real stories260K model in the shared folder and the tiny GPT-2 under tests/TestData.</summary>
internal static class SharedModels
{
    /// <summary>The stories260K checkpoint, relative to the shared folder (for <see cref="SharedFactAttribute"/>).</summary>
    public const string StoriesModel = "models/stories260K/stories260K.bin";

    /// <summary>Its tokenizer, relative to the shared folder.</summary>
    public const string StoriesTokenizer = "models/stories260K/tok512.bin";

    public static string Stories260K => TestPaths.Shared(StoriesModel);

    public static string Tok512 => TestPaths.Shared(StoriesTokenizer);

    public static string Gpt2Tiny => TestPaths.TestData("gpt2-tiny");
}
