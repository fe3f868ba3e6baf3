using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Heed.IO;

/// <summary>
/// Shared plumbing of the tensor file formats: opening and atomically replacing files, reading element data
/// without trusting sizes a file claims, byte order, and one-line error text.
/// </summary>
internal static class TensorStreams
{
    /// <summary>
    /// The most axes a shape read from a file may have: NumPy's own limit (NPY_MAXDIMS, 64 since NumPy 2.0), so no
    /// array NumPy can save is refused, while a hostile header's shape stays small for every step that follows it
    /// (parsing, the element count, error messages). Attention itself uses at most 4 axes.
    /// </summary>
    public const int MaxRank = 64;

    /// <summary>The largest run of bytes moved by one Read or Write call.</summary>
    private const int ChunkBytes = 1 << 24;

    /// <summary>What a non-seekable stream gets allocated before it has shown that more data exists.</summary>
    private const int InitialUnseekableBytes = 1 << 20;

    /// <summary>Opens <paramref name="path"/> and runs <paramref name="read"/> on it, turning I/O failures into <see cref="HeedException"/>.</summary>
    public static T ReadFile<T>(string path, Func<Stream, string, T> read)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new HeedException($"cannot read {path}: it is a directory, not a file");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new HeedException($"file not found: {path}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new HeedException($"cannot read {path}: access denied", ex);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException)
        {
            throw new HeedException($"cannot read {path}: {OneLine(ex.Message)}", ex);
        }

        using (stream)
        {
            return GuardRead(path, () => read(stream, path));
        }
    }

    /// <summary>Runs a read, turning I/O failures of the stream into <see cref="HeedException"/>.</summary>
    public static T GuardRead<T>(string name, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (IOException ex)
        {
            throw new HeedException($"cannot read {name}: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>Runs a write, turning I/O failures of the stream into <see cref="HeedException"/>.</summary>
    public static void GuardWrite(string name, Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is IOException or NotSupportedException)
        {
            // NotSupportedException: a stream that cannot grow, such as a fixed-size MemoryStream.
            throw new HeedException($"cannot write {name}: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>
    /// Writes a file through <paramref name="write"/> into a temporary file beside <paramref name="path"/>, then
    /// moves it over <paramref name="path"/>: a failure never leaves a partial file and never clobbers an old one.
    /// </summary>
    public static void WriteFileAtomically(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new HeedException($"cannot write {path}: {OneLine(ex.Message)}", ex);
        }

        string fileName = Path.GetFileName(fullPath);
        string? directory = Path.GetDirectoryName(fullPath);
        if (directory is null || fileName.Length == 0)
        {
            throw new HeedException($"cannot write {path}: the path names no file");
        }

        if (!Directory.Exists(directory))
        {
            throw new HeedException($"cannot write {path}: directory {directory} does not exist");
        }

        if (Directory.Exists(fullPath))
        {
            throw new HeedException($"cannot write {path}: it is a directory");
        }

        string temporary = TemporaryFiles.PathIn(directory);
        bool moved = false;
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
            }

            File.Move(temporary, fullPath, overwrite: true);
            moved = true;
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new HeedException($"cannot write {path}: access denied", ex);
        }
        catch (IOException ex)
        {
            throw new HeedException($"cannot write {path}: {TemporaryFiles.Reason(ex, temporary, fullPath)}", ex);
        }
        finally
        {
            if (!moved)
            {
                TryDelete(temporary);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the write already failed and that failure is the one to report.
        }
    }

    /// <summary>The bytes left in a seekable stream; null when the stream cannot tell.</summary>
    public static long? BytesLeft(Stream stream) => stream.CanSeek ? Math.Max(0, stream.Length - stream.Position) : null;

    /// <summary>
    /// Reads exactly <paramref name="count"/> elements. A seekable stream is checked for enough bytes before the
    /// array is allocated; a non-seekable one grows the array as data arrives, so a size claimed by a file never
    /// allocates more than the stream really holds (plus at most a doubling).
    /// </summary>
    /// <param name="stream">The stream, positioned at the first element.</param>
    /// <param name="count">The number of elements.</param>
    /// <param name="swapBytes">True when the stored byte order differs from this machine's.</param>
    /// <param name="name">The file or stream name for error messages.</param>
    /// <param name="what">What is being read, for error messages ("the data of tensor 'x'").</param>
    public static T[] ReadElements<T>(Stream stream, int count, bool swapBytes, string name, string what)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        long expectedBytes = (long)count * size;
        long? left = BytesLeft(stream);
        if (left < expectedBytes)
        {
            throw Truncated(name, what, expectedBytes, left.Value);
        }

        int capacity = left is null ? (int)Math.Min(count, Math.Max(1, InitialUnseekableBytes / size)) : count;
        var data = new T[capacity];
        int filled = 0;
        int chunkElements = ChunkBytes / size;
        while (filled < count)
        {
            if (filled == data.Length)
            {
                Array.Resize(ref data, (int)Math.Min(count, 2L * data.Length));
            }

            int take = Math.Min(data.Length - filled, chunkElements);
            Span<byte> bytes = MemoryMarshal.AsBytes(data.AsSpan(filled, take));
            int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (read < bytes.Length)
            {
                throw Truncated(name, what, expectedBytes, ((long)filled * size) + read);
            }

            filled += take;
        }

        if (swapBytes)
        {
            ReverseEndianness(data.AsSpan());
        }

        return data;
    }

    /// <summary>Reads the elements of a new tensor of <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    public static Tensor ReadTensor(Stream stream, DType dtype, int[] shape, bool bigEndian, string name, string what)
    {
        int count = Tensor.CheckedLength(shape);
        bool swap = bigEndian == BitConverter.IsLittleEndian;
        return dtype switch
        {
            DType.Float32 => new Tensor<float>(shape, ReadElements<float>(stream, count, swap, name, what)),
            DType.Float16 => new Tensor<Half>(shape, ReadElements<Half>(stream, count, swap, name, what)),
            DType.BFloat16 => new Tensor<BFloat16>(shape, ReadElements<BFloat16>(stream, count, swap, name, what)),
            DType.Float64 => new Tensor<double>(shape, ReadElements<double>(stream, count, swap, name, what)),
            DType.Bool => new Tensor<bool>(shape, NormalizeBools(ReadElements<bool>(stream, count, false, name, what))),
            DType.Int64 => new Tensor<long>(shape, ReadElements<long>(stream, count, swap, name, what)),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
        };
    }

    /// <summary>Writes the elements of <paramref name="tensor"/> in little-endian byte order.</summary>
    public static void WriteTensorData(Stream stream, Tensor tensor)
    {
        switch (tensor)
        {
            case Tensor<float> t:
                WriteElements<float>(stream, t.Data);
                break;
            case Tensor<Half> t:
                WriteElements<Half>(stream, t.Data);
                break;
            case Tensor<BFloat16> t:
                WriteElements<BFloat16>(stream, t.Data);
                break;
            case Tensor<double> t:
                WriteElements<double>(stream, t.Data);
                break;
            case Tensor<bool> t:
                WriteBools(stream, t.Data);
                break;
            case Tensor<long> t:
                WriteElements<long>(stream, t.Data);
                break;
            default:
                throw new ArgumentException($"unknown tensor type {tensor.GetType().Name}", nameof(tensor));
        }
    }

    private static void WriteElements<T>(Stream stream, ReadOnlySpan<T> data)
        where T : unmanaged
    {
        int chunkElements = ChunkBytes / Unsafe.SizeOf<T>();
        T[]? swapped = BitConverter.IsLittleEndian ? null : new T[Math.Min(chunkElements, data.Length)];
        for (int start = 0; start < data.Length; start += chunkElements)
        {
            ReadOnlySpan<T> chunk = data.Slice(start, Math.Min(chunkElements, data.Length - start));
            if (swapped is not null)
            {
                chunk.CopyTo(swapped);
                Span<T> copy = swapped.AsSpan(0, chunk.Length);
                ReverseEndianness(copy);
                chunk = copy;
            }

            stream.Write(MemoryMarshal.AsBytes(chunk));
        }
    }

    private static void WriteBools(Stream stream, ReadOnlySpan<bool> data)
    {
        // A bool built through unsafe code may hold any non-zero byte; files store exactly 0 or 1.
        var buffer = new byte[Math.Min(ChunkBytes, Math.Max(1, data.Length))];
        for (int start = 0; start < data.Length; start += buffer.Length)
        {
            int take = Math.Min(buffer.Length, data.Length - start);
            for (int i = 0; i < take; i++) buffer[i] = data[start + i] ? (byte)1 : (byte)0;
            stream.Write(buffer, 0, take);
        }
    }

    private static bool[] NormalizeBools(bool[] data)
    {
        // Files may hold any non-zero byte for true; a .NET bool must be exactly 0 or 1.
        Span<byte> bytes = MemoryMarshal.AsBytes(data.AsSpan());
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] > 1) bytes[i] = 1;
        }

        return data;
    }

    /// <summary>Reverses the byte order of every element in place.</summary>
    public static void ReverseEndianness<T>(Span<T> data)
        where T : unmanaged
    {
        switch (Unsafe.SizeOf<T>())
        {
            case 2:
                {
                    Span<ushort> words = MemoryMarshal.Cast<T, ushort>(data);
                    BinaryPrimitives.ReverseEndianness(words, words);
                    break;
                }
            case 4:
                {
                    Span<uint> words = MemoryMarshal.Cast<T, uint>(data);
                    BinaryPrimitives.ReverseEndianness(words, words);
                    break;
                }
            case 8:
                {
                    Span<ulong> words = MemoryMarshal.Cast<T, ulong>(data);
                    BinaryPrimitives.ReverseEndianness(words, words);
                    break;
                }
        }
    }

    /// <summary>The error for data that ends before its declared size.</summary>
    public static HeedException Truncated(string name, string what, long expectedBytes, long foundBytes) =>
        new($"{name} is truncated: {what} needs {expectedBytes.ToString(CultureInfo.InvariantCulture)} bytes but only {foundBytes.ToString(CultureInfo.InvariantCulture)} were found");

    private static bool IsPaired(string text, int index) =>
        char.IsHighSurrogate(text[index])
            ? index + 1 < text.Length && char.IsLowSurrogate(text[index + 1])
            : index > 0 && char.IsHighSurrogate(text[index - 1]);

    /// <summary>Collapses a message to one line.</summary>
    public static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    /// <summary>
    /// Quotes a value taken from a file for an error message: control characters escaped, long values cut,
    /// so the message stays one readable line.
    /// </summary>
    public static string Quote(string value, char quote = '\'')
    {
        const int MaxShown = 80;
        var builder = new StringBuilder(Math.Min(value.Length, MaxShown) + 8);
        builder.Append(quote);
        int shown = Math.Min(value.Length, MaxShown);
        for (int i = 0; i < shown; i++)
        {
            char c = value[i];
            if (c == quote || c == '\\')
            {
                builder.Append('\\').Append(c);
            }
            else if (char.IsSurrogate(c) && !IsPaired(value, i))
            {
                builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
            else if (char.IsControl(c))
            {
                builder.Append(c switch
                {
                    '\n' => "\\n",
                    '\r' => "\\r",
                    '\t' => "\\t",
                    _ => "\\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture),
                });
            }
            else
            {
                builder.Append(c);
            }
        }

        builder.Append(quote);
        if (value.Length > MaxShown)
        {
            builder.Append("...(").Append(value.Length.ToString(CultureInfo.InvariantCulture)).Append(" characters)");
        }

        return builder.ToString();
    }
}
