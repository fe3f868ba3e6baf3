namespace Heed.Models.Tests;

/// <summary>
/// The real model files and vocabularies kept beside the repository in ../shared (HEED_SHARED overrides the location).
/// </summary>
internal static class SharedData
{
    /// <summary>The directory holding Heed.slnx, found by walking up from the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Heed.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Heed.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The shared folder: $HEED_SHARED, else ../shared beside the repository root.</summary>
    public static string Root => Environment.GetEnvironmentVariable("HEED_SHARED") is { Length: > 0 } env
        ? env
        : Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared"));

    /// <summary>A path under the shared folder.</summary>
    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Stories260K => File("models", "stories260K", "stories260K.bin");

    public static string Tok512 => File("models", "stories260K", "tok512.bin");

    /// <summary>The folder under tests/TestData.</summary>
    public static string TestData(params string[] parts) => Path.Combine([RepoRoot(), "tests", "TestData", .. parts]);

    /// <summary>Why a test that needs <paramref name="relative"/> cannot run, or null when it can.</summary>
    public static string? MissingReason(string relative)
    {
        string path = Path.Combine(Root, relative);
        return System.IO.File.Exists(path) || Directory.Exists(path)
            ? null
            : $"needs {relative} from the shared model folder, which is absent here ({path}); set HEED_SHARED or place ../shared beside the clone";
    }
}

/// <summary>A fact that is skipped, with the reason, when a shared file is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute(string relative)
    {
        Relative = relative;
        Skip = SharedData.MissingReason(relative);
    }

    public string Relative { get; }
}

/// <summary>A theory that is skipped, with the reason, when a shared file is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute(string relative)
    {
        Relative = relative;
        Skip = SharedData.MissingReason(relative);
    }

    public string Relative { get; }
}

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "heed-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class Assertions
{
    /// <summary>Asserts a one-line <see cref="HeedException"/> containing every fragment.</summary>
    public static HeedException Fails(Action action, params string[] fragments)
    {
        var ex = Assert.Throws<HeedException>(action);
        Assert.DoesNotContain('\n', ex.Message);
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        }

        return ex;
    }

    /// <summary>The largest |a − b| over two equally long sequences.</summary>
    public static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - (double)b[i]));
        return max;
    }
}

/// <summary>Seeded test inputs.</summary>
internal static class RandomData
{
    /// <summary><paramref name="count"/> floats uniform in (−range, range).</summary>
    public static float[] Floats(Random random, int count, double range = 1)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(((random.NextDouble() * 2) - 1) * range);
        return values;
    }
}
