namespace Heed.Fuzz.Targets;

/// <summary>Where seed files come from: tests/TestData of this clone and the shared folder (small files only).</summary>
internal static class SeedFolder
{
    /// <summary>The files under tests/TestData/<paramref name="folder"/> matching <paramref name="pattern"/>, smallest first.</summary>
    public static IEnumerable<byte[]> TestData(string folder, string pattern) =>
        Directory.EnumerateFiles(TestPaths.TestData(folder), pattern).Order(StringComparer.Ordinal).Select(File.ReadAllBytes);

    /// <summary>A shared file, when the shared folder has it and it is under 64 KB (a fuzz seed must stay cheap to copy).</summary>
    public static IEnumerable<byte[]> Shared(params string[] parts)
    {
        string path = TestPaths.Shared(parts);
        if (File.Exists(path) && new FileInfo(path).Length <= 1 << 16) yield return File.ReadAllBytes(path);
    }
}
