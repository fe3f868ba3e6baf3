using System.Buffers;
using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Heed.IO;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// describing each tensor (dtype, shape, byte range), then one buffer holding every tensor's elements.
/// </summary>
/// <remarks>
/// <para>
/// The header maps each tensor name to <c>{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}</c>,
/// with offsets relative to the start of the buffer, plus an optional <c>"__metadata__"</c> object of strings.
/// Heed reads the dtypes it has: F32, F16, BF16, F64, I64 and BOOL.
/// </para>
/// <para>
/// Reading checks everything against the file: the header length, the JSON, each entry's fields, that each byte
/// range lies inside the buffer and has the size its shape and dtype need, and that the ranges cover the buffer
/// exactly, with no hole and no overlap, as the format requires. Any violation is a <see cref="HeedException"/>.
/// </para>
/// <para>
/// Writing stores the tensors in ordinal name order, back to back, after a compact header padded with spaces to
/// a multiple of 8 bytes; metadata, when given, comes first in the header with its keys in ordinal order.
/// </para>
/// </remarks>
public static class Safetensors
{
    /// <summary>The largest header Heed reads, as the reference implementation caps it.</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private const string SupportedDTypes = "supported: F32, F16, BF16, F64, I64, BOOL";

    private const string DefaultStreamName = "the safetensors stream";

    /// <summary>Reads every tensor of the safetensors file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The tensors by name, in the order the header lists them.</returns>
    /// <exception cref="HeedException">The file is missing or unreadable, or breaks a rule of the format (see <see cref="Safetensors"/>).</exception>
    public static IReadOnlyDictionary<string, Tensor> Read(string path) => ReadWithMetadata(path).Tensors;

    /// <summary>Reads every tensor and the metadata of the safetensors file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The tensors and the header's <c>__metadata__</c> strings.</returns>
    /// <exception cref="HeedException">The file is missing or unreadable, or breaks a rule of the format (see <see cref="Safetensors"/>).</exception>
    public static SafetensorsFile ReadWithMetadata(string path) => TensorStreams.ReadFile(path, ReadCore);

    /// <summary>Reads every tensor of a safetensors file from <paramref name="stream"/>, which is read to its end.</summary>
    /// <param name="stream">A readable stream positioned at the start of the file.</param>
    /// <param name="name">The name shown in error messages, such as the file path; "the safetensors stream" when null.</param>
    /// <returns>The tensors by name, in the order the header lists them.</returns>
    /// <exception cref="HeedException">The data breaks a rule of the format (see <see cref="Safetensors"/>).</exception>
    public static IReadOnlyDictionary<string, Tensor> Read(Stream stream, string? name = null) =>
        ReadWithMetadata(stream, name).Tensors;

    /// <summary>Reads every tensor and the metadata of a safetensors file from <paramref name="stream"/>, which is read to its end.</summary>
    /// <param name="stream">A readable stream positioned at the start of the file.</param>
    /// <param name="name">The name shown in error messages, such as the file path; "the safetensors stream" when null.</param>
    /// <returns>The tensors and the header's <c>__metadata__</c> strings.</returns>
    /// <exception cref="HeedException">The data breaks a rule of the format (see <see cref="Safetensors"/>).</exception>
    public static SafetensorsFile ReadWithMetadata(Stream stream, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("the stream cannot be read", nameof(stream));
        }

        string shownName = name ?? DefaultStreamName;
        return TensorStreams.GuardRead(shownName, () => ReadCore(stream, shownName));
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> as a safetensors file, replacing any file there.
    /// The file is written beside the target under a temporary name and moved into place, so a failure leaves
    /// neither a partial file nor a damaged old one.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="tensors">The tensors by name; the name <c>__metadata__</c> is reserved by the format.</param>
    /// <param name="metadata">Free-form strings stored under <c>__metadata__</c>; none when null or empty.</param>
    /// <exception cref="HeedException">A tensor is named <c>__metadata__</c>, a name is not valid Unicode, or the file cannot be written.</exception>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        (byte[] header, List<KeyValuePair<string, Tensor>> ordered) = BuildHeader(tensors, metadata);
        TensorStreams.WriteFileAtomically(path, stream => WriteBody(stream, header, ordered));
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="stream"/> in safetensors format.</summary>
    /// <param name="stream">A writable stream.</param>
    /// <param name="tensors">The tensors by name; the name <c>__metadata__</c> is reserved by the format.</param>
    /// <param name="metadata">Free-form strings stored under <c>__metadata__</c>; none when null or empty.</param>
    /// <exception cref="HeedException">A tensor is named <c>__metadata__</c>, a name is not valid Unicode, or the stream fails.</exception>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("the stream cannot be written", nameof(stream));
        }

        (byte[] header, List<KeyValuePair<string, Tensor>> ordered) = BuildHeader(tensors, metadata);
        TensorStreams.GuardWrite(DefaultStreamName, () => WriteBody(stream, header, ordered));
    }

    private sealed record Entry(string Name, DType DType, int[] Shape, long Begin, long End);

    private static SafetensorsFile ReadCore(Stream stream, string name)
    {
        Span<byte> lengthField = stackalloc byte[8];
        int got = stream.ReadAtLeast(lengthField, lengthField.Length, throwOnEndOfStream: false);
        if (got < lengthField.Length)
        {
            throw new HeedException(
                $"{name} is too short for a safetensors file: {got} bytes, but the header length field alone takes 8");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        long? left = TensorStreams.BytesLeft(stream);
        if (left is { } available && headerLength > (ulong)available)
        {
            throw new HeedException(
                $"{name}: the header length field says {Invariant(headerLength)} bytes but only {Invariant(available)} bytes follow it");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw new HeedException(
                $"{name}: the header length field says {Invariant(headerLength)} bytes, over Heed's limit of {Invariant(MaxHeaderBytes)}");
        }

        byte[] header = TensorStreams.ReadElements<byte>(stream, (int)headerLength, false, name, "the JSON header");
        long? bufferLength = left - (long)headerLength;
        (List<Entry> entries, IReadOnlyDictionary<string, string> metadata) = ParseHeader(header, name, bufferLength);

        List<Entry> byOffset = [.. entries.OrderBy(e => e.Begin).ThenBy(e => e.End)];
        CheckCoverage(byOffset, name, bufferLength);

        var tensors = new Dictionary<string, Tensor>(entries.Count, StringComparer.Ordinal);
        foreach (Entry entry in byOffset)
        {
            tensors[entry.Name] = TensorStreams.ReadTensor(
                stream, entry.DType, entry.Shape, bigEndian: false, name, $"the data of tensor {TensorStreams.Quote(entry.Name)}");
        }

        if (bufferLength is null && stream.ReadByte() >= 0)
        {
            long end = byOffset.Count == 0 ? 0 : byOffset[^1].End;
            throw new HeedException(
                $"{name}: the data buffer goes on after byte {Invariant(end)}, where the last tensor ends; the tensors must cover it exactly");
        }

        var inHeaderOrder = new OrderedDictionary<string, Tensor>(entries.Count, StringComparer.Ordinal);
        foreach (Entry entry in entries)
        {
            inHeaderOrder.Add(entry.Name, tensors[entry.Name]);
        }

        return new SafetensorsFile(new ReadOnlyDictionary<string, Tensor>(inHeaderOrder), metadata);
    }

    private static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata) ParseHeader(
        byte[] header, string name, long? bufferLength)
    {
        if (!Utf8.IsValid(header))
        {
            throw new HeedException($"{name}: the header is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new HeedException($"{name}: the header is not valid JSON: {TensorStreams.OneLine(ex.Message)}", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new HeedException($"{name}: the header should be a JSON object but is {Describe(root)}");
            }

            try
            {
                return ParseRoot(root, name, bufferLength);
            }
            catch (InvalidOperationException ex)
            {
                // JsonElement refuses to turn an escaped lone surrogate such as \ud800 into a string.
                throw new HeedException($"{name}: the header holds text that is not valid Unicode: {TensorStreams.OneLine(ex.Message)}", ex);
            }
        }
    }

    private static (List<Entry> Entries, IReadOnlyDictionary<string, string> Metadata) ParseRoot(
        JsonElement root, string name, long? bufferLength)
    {
        var entries = new List<Entry>();
        IReadOnlyDictionary<string, string> metadata = new ReadOnlyDictionary<string, string>(new OrderedDictionary<string, string>());
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new HeedException($"{name}: the header has the key {TensorStreams.Quote(property.Name, '"')} twice");
            }

            if (property.Name == MetadataKey)
            {
                metadata = ParseMetadata(property.Value, name);
            }
            else
            {
                entries.Add(ParseEntry(property.Name, property.Value, name, bufferLength));
            }
        }

        return (entries, metadata);
    }

    private static ReadOnlyDictionary<string, string> ParseMetadata(JsonElement value, string name)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new HeedException($"{name}: {MetadataKey} should be a JSON object of strings but is {Describe(value)}");
        }

        var metadata = new OrderedDictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty property in value.EnumerateObject())
        {
            string key = TensorStreams.Quote(property.Name, '"');
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw new HeedException(
                    $"{name}: {MetadataKey} entry {key} should be a string but is {Describe(property.Value)}");
            }

            if (!metadata.TryAdd(property.Name, property.Value.GetString()!))
            {
                throw new HeedException($"{name}: {MetadataKey} has the key {key} twice");
            }
        }

        return new ReadOnlyDictionary<string, string>(metadata);
    }

    private static Entry ParseEntry(string tensorName, JsonElement value, string name, long? bufferLength)
    {
        string tensor = "tensor " + TensorStreams.Quote(tensorName, '"');
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new HeedException(
                $"{name}: {tensor} should be a JSON object with dtype, shape and data_offsets but is {Describe(value)}");
        }

        JsonElement? dtypeField = null;
        JsonElement? shapeField = null;
        JsonElement? offsetsField = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeField;
            switch (field.Name)
            {
                case "dtype":
                    break;
                case "shape":
                    slot = ref shapeField;
                    break;
                case "data_offsets":
                    slot = ref offsetsField;
                    break;
                default:
                    throw new HeedException(
                        $"{name}: {tensor} has the unexpected field {TensorStreams.Quote(field.Name, '"')}; expected dtype, shape and data_offsets");
            }

            if (slot is not null)
            {
                throw new HeedException($"{name}: {tensor} has the field \"{field.Name}\" twice");
            }

            slot = field.Value;
        }

        JsonElement dtypeValue = dtypeField ?? throw Missing(name, tensor, "dtype");
        JsonElement shapeValue = shapeField ?? throw Missing(name, tensor, "shape");
        JsonElement offsetsValue = offsetsField ?? throw Missing(name, tensor, "data_offsets");

        if (dtypeValue.ValueKind != JsonValueKind.String)
        {
            throw new HeedException($"{name}: {tensor} has a dtype that is not a string: {Describe(dtypeValue)}; {SupportedDTypes}");
        }

        string dtypeText = dtypeValue.GetString()!;
        DType dtype = ParseDType(dtypeText) ?? throw new HeedException(
            $"{name}: {tensor} has dtype {TensorStreams.Quote(dtypeText, '"')}, which Heed does not read; {SupportedDTypes}");

        int[] shape = ParseShape(shapeValue, name, tensor);
        (long begin, long end) = ParseOffsets(offsetsValue, name, tensor);
        string offsetsText = $"data_offsets [{Invariant(begin)}, {Invariant(end)}]";
        if (end < begin)
        {
            throw new HeedException($"{name}: {tensor} has {offsetsText}, which end before they begin");
        }

        if (bufferLength is { } length && end > length)
        {
            throw new HeedException(
                $"{name}: {tensor} has {offsetsText}, beyond the end of the file: the data buffer holds {Invariant(length)} bytes");
        }

        long needed = (long)Tensor.CheckedLength(shape) * DTypes.SizeOf(dtype);
        if (end - begin != needed)
        {
            throw new HeedException(
                $"{name}: {tensor} has {offsetsText}, which span {Invariant(end - begin)} bytes, but {dtypeText} shape {Tensor.FormatShape(shape)} needs {Invariant(needed)}");
        }

        return new Entry(tensorName, dtype, shape, begin, end);
    }

    private static HeedException Missing(string name, string tensor, string field) =>
        new($"{name}: {tensor} has no \"{field}\" field; expected dtype, shape and data_offsets");

    private static int[] ParseShape(JsonElement value, string name, string tensor)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new HeedException($"{name}: {tensor} has a shape that is not an array of integers: {Describe(value)}");
        }

        int rank = value.GetArrayLength();
        if (rank > TensorStreams.MaxRank)
        {
            throw new HeedException(
                $"{name}: {tensor} has a shape of {rank} axes; Heed reads at most {TensorStreams.MaxRank}, as NumPy does");
        }

        var shape = new int[rank];
        int axis = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long size) || size < 0)
            {
                throw new HeedException(
                    $"{name}: {tensor} has {Describe(item)} on axis {axis} of its shape; expected a non-negative integer");
            }

            if (size > int.MaxValue)
            {
                throw new HeedException(
                    $"{name}: {tensor} has size {Invariant(size)} on axis {axis} of its shape, over Heed's limit of {int.MaxValue} per axis");
            }

            shape[axis++] = (int)size;
        }

        if (Tensor.LengthOrNull(shape) is null)
        {
            throw new HeedException(
                $"{name}: {tensor} has shape {Tensor.FormatShape(shape)}, more elements than one array can hold ({Array.MaxLength})");
        }

        return shape;
    }

    private static (long Begin, long End) ParseOffsets(JsonElement value, string name, string tensor)
    {
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 2
            && value[0].ValueKind == JsonValueKind.Number && value[0].TryGetInt64(out long begin) && begin >= 0
            && value[1].ValueKind == JsonValueKind.Number && value[1].TryGetInt64(out long end) && end >= 0)
        {
            return (begin, end);
        }

        throw new HeedException(
            $"{name}: {tensor} has data_offsets {Describe(value)}; expected [begin, end], two non-negative integers");
    }

    private static void CheckCoverage(List<Entry> byOffset, string name, long? bufferLength)
    {
        long position = 0;
        Entry? previous = null;
        foreach (Entry entry in byOffset)
        {
            if (entry.Begin > position)
            {
                throw new HeedException(
                    $"{name}: the data buffer has a hole: bytes [{Invariant(position)}, {Invariant(entry.Begin)}) before tensor {TensorStreams.Quote(entry.Name, '"')} belong to no tensor; the tensors must cover the buffer without gaps");
            }

            if (entry.Begin < position)
            {
                throw new HeedException(
                    $"{name}: tensor {TensorStreams.Quote(entry.Name, '"')} (data_offsets [{Invariant(entry.Begin)}, {Invariant(entry.End)}]) overlaps tensor {TensorStreams.Quote(previous!.Name, '"')} (data_offsets [{Invariant(previous.Begin)}, {Invariant(previous.End)}])");
            }

            position = entry.End;
            previous = entry;
        }

        if (bufferLength is { } length && position < length)
        {
            throw new HeedException(
                $"{name}: the data buffer has a hole: bytes [{Invariant(position)}, {Invariant(length)}) at its end belong to no tensor; the tensors must cover the buffer without gaps");
        }
    }

    private static DType? ParseDType(string text) => text switch
    {
        "F32" => DType.Float32,
        "F16" => DType.Float16,
        "BF16" => DType.BFloat16,
        "F64" => DType.Float64,
        "I64" => DType.Int64,
        "BOOL" => DType.Bool,
        _ => null,
    };

    private static string DTypeCode(DType dtype) => dtype switch
    {
        DType.Float32 => "F32",
        DType.Float16 => "F16",
        DType.BFloat16 => "BF16",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
    };

    /// <summary>A JSON value as shown in error messages: its text, cut when long.</summary>
    private static string Describe(JsonElement value)
    {
        string kind = value.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Null => "null",
            _ => "a value",
        };
        string text = value.GetRawText();
        return value.ValueKind == JsonValueKind.Null ? kind : $"{kind} ({TrimForMessage(text)})";
    }

    private static string TrimForMessage(string text)
    {
        const int MaxShown = 80;
        string oneLine = TensorStreams.OneLine(text);
        return oneLine.Length <= MaxShown ? oneLine : oneLine[..MaxShown] + "...";
    }

    private static (byte[] Header, List<KeyValuePair<string, Tensor>> Ordered) BuildHeader(
        IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        List<KeyValuePair<string, Tensor>> ordered = [.. tensors.OrderBy(pair => pair.Key, StringComparer.Ordinal)];
        foreach ((string tensorName, Tensor tensor) in ordered)
        {
            if (tensor is null)
            {
                throw new ArgumentException($"tensor {TensorStreams.Quote(tensorName, '"')} is null", nameof(tensors));
            }

            if (tensorName == MetadataKey)
            {
                throw new HeedException($"cannot write a tensor named \"{MetadataKey}\": safetensors reserves that key for metadata");
            }

            RequireUnicode(tensorName, "tensor name");
        }

        if (metadata is not null)
        {
            foreach ((string key, string value) in metadata)
            {
                if (value is null)
                {
                    throw new ArgumentException($"metadata entry {TensorStreams.Quote(key, '"')} is null", nameof(metadata));
                }

                RequireUnicode(key, "metadata key");
                RequireUnicode(value, $"the value of metadata key {TensorStreams.Quote(key, '"')}");
            }
        }

        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(MetadataKey);
                foreach ((string key, string value) in metadata.OrderBy(pair => pair.Key, StringComparer.Ordinal))
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            long offset = 0;
            foreach ((string tensorName, Tensor tensor) in ordered)
            {
                long size = (long)tensor.Length * DTypes.SizeOf(tensor.DType);
                writer.WriteStartObject(tensorName);
                writer.WriteString("dtype", DTypeCode(tensor.DType));
                writer.WriteStartArray("shape");
                foreach (int dim in tensor.Shape) writer.WriteNumberValue(dim);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + size);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += size;
            }

            writer.WriteEndObject();
        }

        int padded = (json.WrittenCount + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.WrittenSpan.CopyTo(header.AsSpan(8));
        header.AsSpan(8 + json.WrittenCount).Fill((byte)' ');
        return (header, ordered);
    }

    /// <summary>Refuses text with a lone surrogate, which has no UTF-8 form.</summary>
    private static void RequireUnicode(string text, string what)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                throw new HeedException(
                    $"cannot write the safetensors header: {what} {TensorStreams.Quote(text, '"')} is not valid Unicode (a lone surrogate at index {i})");
            }
        }
    }

    private static void WriteBody(Stream stream, byte[] header, List<KeyValuePair<string, Tensor>> ordered)
    {
        stream.Write(header);
        foreach ((_, Tensor tensor) in ordered)
        {
            TensorStreams.WriteTensorData(stream, tensor);
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);
}
