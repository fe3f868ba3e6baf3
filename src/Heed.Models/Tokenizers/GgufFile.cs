using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Heed.Models.Tokenizers;

/// <summary>
/// The header of a GGUF file (versions 2 and 3): its key/value pairs (enough to read a tokenizer vocabulary,
/// <c>tokenizer.ggml.*</c>) and its tensor table (name, shape, type, offset). Tensor data is not read here
/// (<see cref="Heed.Models.Llama.LlamaGguf"/> does). Every length is checked against the bytes left in the file
/// before anything is allocated.
/// </summary>
public sealed class GgufFile
{
    /// <summary>
    /// How many levels arrays may nest inside arrays. llama.cpp writes arrays of scalars or strings, so real files nest
    /// one level, at most two; the parser recurses once per level, and a file nesting tens of thousands of levels would
    /// overflow the stack, which kills the process instead of throwing.
    /// </summary>
    private const int MaxArrayDepth = 8;

    /// <summary>
    /// The most characters of a key or string an error message quotes; real keys are under 40
    /// ("tokenizer.ggml.seperator_token_id"), and a message stays one line of bounded length.
    /// </summary>
    private const int MaxQuotedChars = 64;

    /// <summary>The alignment of the tensor data when the file does not set <c>general.alignment</c>.</summary>
    private const int DefaultAlignment = 32;

    /// <summary>The first read of <see cref="Load"/>; the header of a model with a 32,000-token vocabulary fits in it.</summary>
    private const int FirstRead = 1 << 20;

    private readonly Dictionary<string, object> _values;

    private GgufFile(int version, Dictionary<string, object> values, IReadOnlyList<GgufTensorInfo> tensors, long dataOffset, long fileLength)
    {
        Version = version;
        _values = values;
        Tensors = tensors;
        DataOffset = dataOffset;
        FileLength = fileLength;
    }

    /// <summary>The format version (2 or 3).</summary>
    public int Version { get; }

    /// <summary>The tensor table, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Where the tensor data starts: the end of the header rounded up to the alignment.</summary>
    public long DataOffset { get; }

    /// <summary>The length of the whole file in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Every key, in file order.</summary>
    public IEnumerable<string> Keys => _values.Keys;

    /// <summary>
    /// A value: integers as <see cref="long"/> (unsigned 64-bit as <see cref="ulong"/>), floats as <see cref="double"/>,
    /// bool, string, or an array of those (<see cref="long"/>[], <see cref="double"/>[], string[], bool[], object[]).
    /// </summary>
    public object? this[string key] => _values.TryGetValue(key, out object? v) ? v : null;

    /// <summary>
    /// Reads the header of a GGUF file (metadata and tensor table), not its tensor data: the first megabyte, then four
    /// times more each time the header runs past what was read, never past the file's end.
    /// </summary>
    /// <exception cref="HeedException">The file is missing, truncated or not GGUF.</exception>
    public static GgufFile Load(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path);
            long length = RandomAccess.GetLength(handle);
            int size = (int)Math.Min(length, FirstRead);
            while (true)
            {
                var data = new byte[size];
                int read = 0;
                while (read < size)
                {
                    int n = RandomAccess.Read(handle, data.AsSpan(read), read);
                    if (n == 0) throw new HeedException($"{path}: the file shrank while it was read");
                    read += n;
                }

                try
                {
                    return Parse(data, path, length);
                }
                catch (MoreBytesNeededException)
                {
                    int more = (int)Math.Min(length, Math.Min((long)size * 4, Array.MaxLength));
                    if (more == size) throw new HeedException($"{path}: the header is longer than {size} bytes; Heed reads GGUF headers up to that size");
                    size = more;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"{path}: cannot read: {ex.Message}", ex);
        }
    }

    /// <summary>Parses GGUF bytes (see <see cref="Load"/>): the whole file, so every byte the header needs is there.</summary>
    public static GgufFile Parse(byte[] data, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(data);
        return Parse(data, name, data.Length);
    }

    /// <summary>Parses the first <c>data.Length</c> bytes of a file of <paramref name="fileLength"/> bytes.</summary>
    private static GgufFile Parse(byte[] data, string name, long fileLength)
    {
        var reader = new Reader(data, name, fileLength);
        if (data.Length < 4 || !data.AsSpan(0, 4).SequenceEqual("GGUF"u8))
        {
            throw new HeedException($"{name}: does not start with the GGUF magic");
        }

        reader.Skip(4);
        uint version = reader.U32();
        if (version is not (2 or 3))
        {
            throw new HeedException($"{name}: GGUF version {version}; Heed reads versions 2 and 3");
        }

        ulong tensorCount = reader.U64();
        ulong count = reader.U64();
        reader.CheckCount(count, 12, "metadata entries");
        reader.CheckCount(tensorCount, 24, "tensors");
        var values = new Dictionary<string, object>((int)count, StringComparer.Ordinal);
        for (ulong i = 0; i < count; i++)
        {
            string key = reader.Str();
            uint type = reader.U32();
            values[key] = reader.Value(type, key);
        }

        var tensors = new GgufTensorInfo[(int)tensorCount];
        for (int i = 0; i < tensors.Length; i++)
        {
            string tensorName = reader.Str();
            uint dimensions = reader.U32();
            if (dimensions is 0 or > 4)
            {
                throw new HeedException($"{name}: tensor {Quote(tensorName)} has {dimensions} dimensions; GGUF tensors have 1 to 4");
            }

            var shape = new long[dimensions];
            for (int d = 0; d < shape.Length; d++)
            {
                ulong extent = reader.U64();
                if (extent is 0 or > int.MaxValue)
                {
                    throw new HeedException($"{name}: tensor {Quote(tensorName)} has extent {extent} in dimension {d}; expected 1..{int.MaxValue}");
                }

                shape[d] = (long)extent;
            }

            uint type = reader.U32();
            ulong offset = reader.U64();
            if (offset > (ulong)fileLength)
            {
                throw new HeedException($"{name}: tensor {Quote(tensorName)} starts at data offset {offset}, past the end of the {fileLength}-byte file");
            }

            tensors[i] = new GgufTensorInfo(tensorName, shape, type, (long)offset);
        }

        long alignment = values.TryGetValue("general.alignment", out object? a) ? a switch { long l => l, ulong u when u <= int.MaxValue => (long)u, _ => -1 } : DefaultAlignment;
        if (alignment <= 0 || alignment > 1 << 20 || (alignment & (alignment - 1)) != 0)
        {
            throw new HeedException($"{name}: general.alignment is {GgufFile.Describe(values.GetValueOrDefault("general.alignment"))}; expected a power of two up to 2^20");
        }

        long dataOffset = (reader.Position + alignment - 1) / alignment * alignment;
        return new GgufFile((int)version, values, tensors, dataOffset, fileLength);
    }

    /// <summary>A metadata value for an error message.</summary>
    internal static string Describe(object? value) => value switch
    {
        null => "missing",
        string s => Quote(s),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        Array array => $"an array of {array.Length}",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "?",
    };

    /// <summary>A required string value.</summary>
    public string String(string key) => this[key] as string ?? throw Missing(key, "string");

    /// <summary>A required string array.</summary>
    public string[] Strings(string key) => this[key] as string[] ?? throw Missing(key, "string array");

    /// <summary>An optional float array, as float32.</summary>
    public float[]? Floats(string key) => this[key] is double[] d ? [.. d.Select(x => (float)x)] : null;

    /// <summary>An optional integer array.</summary>
    public long[]? Integers(string key) => this[key] as long[];

    /// <summary>An optional integer.</summary>
    public long? Integer(string key) => this[key] switch
    {
        long l => l,
        ulong u when u <= long.MaxValue => (long)u,
        _ => null,
    };

    /// <summary>
    /// A key or string from a file, quoted for an error message: control characters as \xNN, other invisible ones
    /// (bidirectional overrides, line separators, lone surrogates, unassigned code points) as \uNNNN or \UNNNNNNNN,
    /// quotes and backslashes escaped, and text past <paramref name="maxChars"/> characters cut with "…", so foreign
    /// bytes can neither break the message's one line nor make it unbounded.
    /// </summary>
    internal static string Quote(string text, int maxChars = MaxQuotedChars)
    {
        ArgumentNullException.ThrowIfNull(text);
        int shown = Math.Min(text.Length, maxChars);
        if (shown < text.Length && shown > 0 && char.IsHighSurrogate(text[shown - 1]))
        {
            shown--; // never split a surrogate pair
        }

        var builder = new StringBuilder(shown + 8);
        builder.Append('"');
        for (int i = 0; i < shown;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i, shown - i), out Rune rune, out int used) != OperationStatus.Done)
            {
                builder.Append("\\u").Append(((int)text[i]).ToString("X4", CultureInfo.InvariantCulture)); // a lone surrogate
                i++;
                continue;
            }

            i += used;
            if (rune.Value is '"' or '\\')
            {
                builder.Append('\\').Append((char)rune.Value);
            }
            else if (Rune.IsControl(rune))
            {
                builder.Append("\\x").Append(rune.Value.ToString("X2", CultureInfo.InvariantCulture));
            }
            else if (Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator or UnicodeCategory.OtherNotAssigned)
            {
                builder.Append(rune.IsBmp ? "\\u" : "\\U").Append(rune.Value.ToString(rune.IsBmp ? "X4" : "X8", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(rune.ToString());
            }
        }

        builder.Append('"');
        if (shown < text.Length)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }

    private static HeedException Missing(string key, string kind) => new($"GGUF key {Quote(key)}: missing or not a {kind}");

    /// <summary>The header runs past the bytes read so far (but not past the file): read more and parse again.</summary>
    private sealed class MoreBytesNeededException : Exception
    {
    }

    /// <summary>
    /// Reads the first <c>data.Length</c> bytes of a file of <paramref name="fileLength"/> bytes: a count or length is
    /// checked against the file, and a read past the bytes at hand asks <see cref="Load"/> for more.
    /// </summary>
    private sealed class Reader(byte[] data, string name, long fileLength)
    {
        private int _at;

        public long Position => _at;

        private long Left => fileLength - _at;

        public void Skip(int n)
        {
            Need(n);
            _at += n;
        }

        public uint U32()
        {
            Need(4);
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(_at));
            _at += 4;
            return v;
        }

        public ulong U64()
        {
            Need(8);
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(_at));
            _at += 8;
            return v;
        }

        public string Str()
        {
            ulong length = U64();
            if (length > (ulong)Left)
            {
                throw new HeedException($"{name}: a string at byte {_at - 8} claims {length} bytes but {Left} remain");
            }

            if (length > int.MaxValue)
            {
                throw new HeedException($"{name}: a string at byte {_at - 8} claims {length} bytes; Heed reads strings up to {int.MaxValue} bytes");
            }

            Need((int)length);
            string s = Encoding.UTF8.GetString(data, _at, (int)length);
            _at += (int)length;
            return s;
        }

        public void CheckCount(ulong count, int minBytesEach, string what)
        {
            if (count > (ulong)Left / (ulong)minBytesEach || count > int.MaxValue)
            {
                throw new HeedException($"{name}: {count} {what} cannot fit in the {Left} bytes left");
            }
        }

        public object Value(uint type, string key)
        {
            switch (type)
            {
                case 0: Need(1); return (long)data[_at++];
                case 1: Need(1); return (long)(sbyte)data[_at++];
                case 2: Need(2); _at += 2; return (long)BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(_at - 2));
                case 3: Need(2); _at += 2; return (long)BinaryPrimitives.ReadInt16LittleEndian(data.AsSpan(_at - 2));
                case 4: return (long)U32();
                case 5: return (long)(int)U32();
                case 6: Need(4); _at += 4; return (double)BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(_at - 4));
                case 7: Need(1); return data[_at++] != 0;
                case 8: return Str();
                case 9: return Array(key, 1);
                case 10: return U64();
                case 11: return (long)U64();
                case 12: Need(8); _at += 8; return BinaryPrimitives.ReadDoubleLittleEndian(data.AsSpan(_at - 8));
                default: throw new HeedException($"{name}: key {Quote(key)} has unknown value type {type}");
            }
        }

        /// <summary>An array value; <paramref name="depth"/> is 1 for a key's own array, 2 for an array inside it, and so on.</summary>
        private object Array(string key, int depth)
        {
            uint type = U32();
            ulong count = U64();
            int size = type switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, 8 or 10 or 11 or 12 => 8, 9 => 12, _ => 1 };
            CheckCount(count, size, $"elements of {Quote(key)}");
            int n = (int)count;
            switch (type)
            {
                case 8:
                    {
                        var strings = new string[n];
                        for (int i = 0; i < n; i++) strings[i] = Str();
                        return strings;
                    }

                case 6 or 12:
                    {
                        var doubles = new double[n];
                        for (int i = 0; i < n; i++) doubles[i] = (double)Value(type, key);
                        return doubles;
                    }

                case 7:
                    {
                        var bools = new bool[n];
                        for (int i = 0; i < n; i++) bools[i] = (bool)Value(type, key);
                        return bools;
                    }

                case 9:
                    {
                        if (n > 0 && depth >= MaxArrayDepth)
                        {
                            throw new HeedException(
                                $"{name}: key {Quote(key)} nests arrays more than {MaxArrayDepth} levels deep (real GGUF files nest one or two)");
                        }

                        var nested = new object[n];
                        for (int i = 0; i < n; i++) nested[i] = Array(key, depth + 1);
                        return nested;
                    }

                case 10:
                    {
                        var longs = new long[n];
                        for (int i = 0; i < n; i++) longs[i] = (long)U64();
                        return longs;
                    }

                default:
                    {
                        var longs = new long[n];
                        for (int i = 0; i < n; i++) longs[i] = (long)Value(type, key);
                        return longs;
                    }
            }
        }

        private void Need(int n)
        {
            if (data.Length - _at < n)
            {
                if (Left >= n && data.Length < fileLength) throw new MoreBytesNeededException();
                throw new HeedException($"{name}: truncated at byte {_at}: {n} more bytes needed, {Left} left");
            }
        }
    }
}

/// <summary>One entry of a GGUF tensor table.</summary>
/// <param name="Name">The tensor's name (<c>blk.0.attn_q.weight</c>).</param>
/// <param name="Shape">ggml's extents, innermost first: ne[0] is the length of a row (the input width of a weight matrix), ne[1] the number of rows.</param>
/// <param name="Type">ggml's type id (0 F32, 1 F16, 8 Q8_0, 12 Q4_K, 14 Q6_K, 30 BF16, …).</param>
/// <param name="Offset">Where the data starts, in bytes from <see cref="GgufFile.DataOffset"/>.</param>
public sealed record GgufTensorInfo(string Name, IReadOnlyList<long> Shape, uint Type, long Offset);
