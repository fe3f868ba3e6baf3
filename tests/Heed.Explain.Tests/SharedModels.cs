namespace Heed.Explain.Tests;

/// <summary>
/// The real model kept beside the repository in ../shared (HEED_SHARED overrides the location) and the tiny GPT-2 under
/// tests/TestData.
/// </summary>
internal static class SharedModels
{
    /// <summary>The directory holding Heed.slnx, found by walking up from the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Heed.slnx"))) return dir.FullName;
        }

        throw new InvalidOperationException("Heed.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The shared folder: $HEED_SHARED, else ../shared beside the repository root.</summary>
    public static string Root => Environment.GetEnvironmentVariable("HEED_SHARED") is { Length: > 0 } env
        ? env
        : Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared"));

    public static string Stories260K => Path.Combine(Root, "models", "stories260K", "stories260K.bin");

    public static string Tok512 => Path.Combine(Root, "models", "stories260K", "tok512.bin");

    public static string Gpt2Tiny => Path.Combine(RepoRoot(), "tests", "TestData", "gpt2-tiny");

    /// <summary>Why a stories260K test cannot run, or null when it can.</summary>
    public static string? MissingReason => File.Exists(Stories260K) && File.Exists(Tok512)
        ? null
        : $"needs models/stories260K (stories260K.bin, tok512.bin) from the shared folder, which is absent here ({Path.GetDirectoryName(Stories260K)}); set HEED_SHARED or place ../shared beside the clone";
}

/// <summary>A fact skipped, with the reason, when the shared stories260K model is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoriesFactAttribute : FactAttribute
{
    public StoriesFactAttribute() => Skip = SharedModels.MissingReason;
}

/// <summary>A theory skipped, with the reason, when the shared stories260K model is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoriesTheoryAttribute : TheoryAttribute
{
    public StoriesTheoryAttribute() => Skip = SharedModels.MissingReason;
}
