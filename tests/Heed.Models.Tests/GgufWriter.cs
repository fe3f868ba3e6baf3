using System.Text;

namespace Heed.Models.Tests;

/// <summary>
/// Writes GGUF version 3 files for tests, from the published layout alone: magic, version, tensor count, key count,
/// typed keys, the tensor table (name, dimensions, extents innermost first, type id, offset), padding to the
/// alignment, then each tensor's bytes at its aligned offset.
/// </summary>
internal sealed class GgufWriter
{
    private const int Alignment = 32;

    private readonly List<(string Key, uint Type, byte[] Value)> _values = [];
    private readonly List<(string Name, long[] Shape, uint Type, byte[] Data)> _tensors = [];

    public bool Has(string key) => _values.Exists(v => v.Key == key);

    public GgufWriter String(string key, string value) => Add(key, 8, Str(value));

    public GgufWriter UInt32(string key, uint value) => Add(key, 4, BitConverter.GetBytes(value));

    public GgufWriter Float32(string key, float value) => Add(key, 6, BitConverter.GetBytes(value));

    public GgufWriter Bool(string key, bool value) => Add(key, 7, [(byte)(value ? 1 : 0)]);

    public GgufWriter Strings(string key, IReadOnlyList<string> values) =>
        Add(key, 9, [.. BitConverter.GetBytes(8u), .. BitConverter.GetBytes((ulong)values.Count), .. values.SelectMany(Str)]);

    public GgufWriter Floats(string key, IReadOnlyList<float> values) =>
        Add(key, 9, [.. BitConverter.GetBytes(6u), .. BitConverter.GetBytes((ulong)values.Count), .. values.SelectMany(BitConverter.GetBytes)]);

    public GgufWriter Ints(string key, IReadOnlyList<int> values) =>
        Add(key, 9, [.. BitConverter.GetBytes(5u), .. BitConverter.GetBytes((ulong)values.Count), .. values.SelectMany(BitConverter.GetBytes)]);

    /// <summary>A tensor of ggml type <paramref name="type"/> with extents <paramref name="shape"/> (ne[0] first) and its stored bytes.</summary>
    public GgufWriter Tensor(string name, long[] shape, uint type, byte[] data)
    {
        _tensors.Add((name, shape, type, data));
        return this;
    }

    public byte[] ToArray()
    {
        var bytes = new List<byte>();
        bytes.AddRange("GGUF"u8.ToArray());
        bytes.AddRange(BitConverter.GetBytes(3u));
        bytes.AddRange(BitConverter.GetBytes((ulong)_tensors.Count));
        bytes.AddRange(BitConverter.GetBytes((ulong)_values.Count));
        foreach ((string key, uint type, byte[] value) in _values)
        {
            bytes.AddRange(Str(key));
            bytes.AddRange(BitConverter.GetBytes(type));
            bytes.AddRange(value);
        }

        long offset = 0;
        var offsets = new List<long>();
        foreach ((string name, long[] shape, uint type, byte[] data) in _tensors)
        {
            bytes.AddRange(Str(name));
            bytes.AddRange(BitConverter.GetBytes((uint)shape.Length));
            foreach (long extent in shape) bytes.AddRange(BitConverter.GetBytes((ulong)extent));
            bytes.AddRange(BitConverter.GetBytes(type));
            bytes.AddRange(BitConverter.GetBytes((ulong)offset));
            offsets.Add(offset);
            offset += (data.Length + Alignment - 1) / Alignment * Alignment;
        }

        Pad(bytes);
        foreach ((_, _, _, byte[] data) in _tensors)
        {
            bytes.AddRange(data);
            Pad(bytes);
        }

        return [.. bytes];
    }

    private static void Pad(List<byte> bytes)
    {
        while (bytes.Count % Alignment != 0) bytes.Add(0);
    }

    // A key written again replaces the earlier value in its place (a file holds each key once).
    private GgufWriter Add(string key, uint type, byte[] value)
    {
        int at = _values.FindIndex(v => v.Key == key);
        if (at >= 0) _values[at] = (key, type, value);
        else _values.Add((key, type, value));
        return this;
    }

    private static byte[] Str(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return [.. BitConverter.GetBytes((ulong)utf8.Length), .. utf8];
    }
}
