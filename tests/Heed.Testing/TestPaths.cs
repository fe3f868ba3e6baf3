namespace Heed.Testing;

/// <summary>
/// Where test inputs live: the repository root (the folder holding Heed.slnx above the test binaries), tests/TestData in
/// it, and the shared model folder ($HEED_SHARED, else ../shared beside the repository root).
/// </summary>
public static class TestPaths
{
    /// <summary>The environment variable that overrides the shared folder's location.</summary>
    public const string SharedVariable = "HEED_SHARED";

    /// <summary>The directory holding Heed.slnx, found by walking up from <see cref="AppContext.BaseDirectory"/>.</summary>
    /// <exception cref="InvalidOperationException">No folder above the test binaries holds Heed.slnx.</exception>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Heed.slnx"))) return dir.FullName;
        }

        throw new InvalidOperationException("Heed.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The shared folder: $HEED_SHARED when set, else ../shared beside the repository root.</summary>
    public static string SharedRoot => Environment.GetEnvironmentVariable(SharedVariable) is { Length: > 0 } env
        ? env
        : Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared"));

    /// <summary>A path under the shared folder.</summary>
    /// <param name="parts">The path's segments below <see cref="SharedRoot"/>.</param>
    public static string Shared(params string[] parts) => Path.GetFullPath(Path.Combine([SharedRoot, .. parts]));

    /// <summary>A path under tests/TestData of this clone.</summary>
    /// <param name="parts">The path's segments below tests/TestData.</param>
    public static string TestData(params string[] parts) => Path.Combine([RepoRoot(), "tests", "TestData", .. parts]);

    /// <summary>
    /// Why a test that needs the shared files or folders <paramref name="relative"/> cannot run (naming the first one
    /// absent, where it was looked for, and how to provide it), or null when every one is present.
    /// </summary>
    /// <param name="relative">Paths relative to the shared folder, with '/' between segments.</param>
    public static string? MissingReason(params string[] relative)
    {
        foreach (string item in relative)
        {
            string path = Shared(item);
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                return $"needs {item} from the shared model folder, which is absent here ({path}); set {SharedVariable} or place ../shared beside the clone";
            }
        }

        return null;
    }
}
