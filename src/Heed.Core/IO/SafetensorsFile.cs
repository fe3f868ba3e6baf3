namespace Heed.IO;

/// <summary>The contents of a safetensors file: its tensors and its free-form string metadata.</summary>
public sealed class SafetensorsFile
{
    internal SafetensorsFile(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The tensors by name, in the order the file's header lists them.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> entries; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
}
