using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Heed.Models.Tokenizers;

/// <summary>
/// The metadata of a GGUF file (versions 2 and 3): its key/value pairs, enough to read a tokenizer vocabulary
/// (<c>tokenizer.ggml.*</c>). Tensor data is not read. Every length is checked against the bytes left before
/// anything is allocated.
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

    private readonly Dictionary<string, object> _values;

    private GgufFile(int version, Dictionary<string, object> values)
    {
        Version = version;
        _values = values;
    }

    /// <summary>The format version (2 or 3).</summary>
    public int Version { get; }

    /// <summary>Every key, in file order.</summary>
    public IEnumerable<string> Keys => _values.Keys;

    /// <summary>
    /// A value: integers as <see cref="long"/> (unsigned 64-bit as <see cref="ulong"/>), floats as <see cref="double"/>,
    /// bool, string, or an array of those (<see cref="long"/>[], <see cref="double"/>[], string[], bool[], object[]).
    /// </summary>
    public object? this[string key] => _values.TryGetValue(key, out object? v) ? v : null;

    /// <summary>Reads the metadata of a GGUF file.</summary>
    /// <exception cref="HeedException">The file is missing, truncated or not GGUF.</exception>
    public static GgufFile Load(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"{path}: cannot read: {ex.Message}", ex);
        }

        return Parse(data, path);
    }

    /// <summary>Parses GGUF bytes (see <see cref="Load"/>).</summary>
    public static GgufFile Parse(byte[] data, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(data);
        var reader = new Reader(data, name);
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

        reader.U64(); // tensor count: tensors are not read
        ulong count = reader.U64();
        reader.CheckCount(count, 12, "metadata entries");
        var values = new Dictionary<string, object>((int)count, StringComparer.Ordinal);
        for (ulong i = 0; i < count; i++)
        {
            string key = reader.Str();
            uint type = reader.U32();
            values[key] = reader.Value(type, key);
        }

        return new GgufFile((int)version, values);
    }

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

    private sealed class Reader(byte[] data, string name)
    {
        private int _at;

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
            if (length > (ulong)(data.Length - _at))
            {
                throw new HeedException($"{name}: a string at byte {_at - 8} claims {length} bytes but {data.Length - _at} remain");
            }

            string s = Encoding.UTF8.GetString(data, _at, (int)length);
            _at += (int)length;
            return s;
        }

        public void CheckCount(ulong count, int minBytesEach, string what)
        {
            if (count > (ulong)(data.Length - _at) / (ulong)minBytesEach)
            {
                throw new HeedException($"{name}: {count} {what} cannot fit in the {data.Length - _at} bytes left");
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
                throw new HeedException($"{name}: truncated at byte {_at}: {n} more bytes needed, {data.Length - _at} left");
            }
        }
    }
}
