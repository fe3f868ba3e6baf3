namespace Heed.Testing;

/// <summary>A fresh folder under the system temp folder, deleted with everything in it on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates the folder, named <paramref name="prefix"/> plus a new GUID.</summary>
    /// <param name="prefix">The start of the folder's name, telling which tests made it.</param>
    public TempFolder(string prefix = "heed-tests-")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> inside the folder (not created).</summary>
    /// <param name="name">A file or folder name.</param>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names of the files and folders directly inside, in ordinal order.</summary>
    public string[] Entries() =>
        [.. Directory.GetFileSystemEntries(Path).Select(p => System.IO.Path.GetFileName(p)).Order(StringComparer.Ordinal)];

    /// <summary>Deletes the folder and everything in it.</summary>
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
