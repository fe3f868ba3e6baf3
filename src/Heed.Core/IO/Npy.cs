using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Heed.IO;

/// <summary>
/// Reads and writes NumPy's .npy format: one array per file, a short text header describing it, then the raw
/// elements in C (row-major) order.
/// </summary>
/// <remarks>
/// <para>
/// Reading accepts format versions 1.0, 2.0 and 3.0 and the element types Heed has, in either byte order:
/// <c>'&lt;f4'</c> (float32), <c>'&lt;f2'</c> (float16), <c>'&lt;f8'</c> (float64), <c>'|b1'</c> (bool) and
/// <c>'&lt;i8'</c> (int64), with <c>'&gt;'</c> (big-endian, byte-swapped on reading) or <c>'='</c> (native) in place
/// of <c>'&lt;'</c>. Fortran-order arrays, other element types and structured dtypes are refused with a
/// <see cref="HeedException"/>.
/// </para>
/// <para>
/// bfloat16: NumPy itself has no bfloat16 type and so no standard descr for it. Heed follows the convention of
/// NumPy extended with the ml_dtypes package, whose bfloat16 dtype prints as <c>'bfloat16'</c>: Heed writes
/// bfloat16 arrays with descr <c>'bfloat16'</c> (little-endian elements) and reads that descr back. Plain NumPy
/// cannot load such a file; convert to float32 first where that matters.
/// </para>
/// <para>
/// Writing produces exactly what <c>numpy.save</c> writes for the same array: version 1.0 (2.0 only when the header
/// would not fit in 65535 bytes), a little-endian descr, the header dict in NumPy's spelling with the spare space
/// NumPy leaves for growing the first axis, padded with spaces and a final newline so the data starts at a
/// multiple of 64 bytes.
/// </para>
/// </remarks>
public static class Npy
{
    /// <summary>The largest header Heed reads; NumPy headers are a few hundred bytes.</summary>
    private const int MaxHeaderBytes = 1 << 24;

    /// <summary>NumPy aligns the start of the data to this many bytes.</summary>
    private const int Alignment = 64;

    /// <summary>NumPy leaves room in the header for the first axis to grow to this many digits.</summary>
    private const int GrowthAxisMaxDigits = 21;

    private const string SupportedDescrs =
        "supported: '<f4', '<f2', 'bfloat16', '<f8', '|b1', '<i8' (also with '>' big-endian or '=' native byte order)";

    private const string DefaultStreamName = "the .npy stream";

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads the array stored in the .npy file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The array as a tensor of the matching <see cref="DType"/>; a 0-d array becomes a scalar tensor (shape []).</returns>
    /// <exception cref="HeedException">
    /// The file is missing or unreadable, is not a .npy file, has a malformed header, an unsupported element type or
    /// Fortran order, is shorter than its header says, or has bytes after the array data.
    /// </exception>
    public static Tensor Read(string path) =>
        TensorStreams.ReadFile(path, static (stream, name) => ReadCore(stream, name, requireEnd: true));

    /// <summary>
    /// Reads one .npy array from <paramref name="stream"/>, leaving the stream just after the array data
    /// (several arrays may follow each other in one stream).
    /// </summary>
    /// <param name="stream">A readable stream positioned at the start of the .npy data.</param>
    /// <param name="name">The name shown in error messages, such as the file path; "the .npy stream" when null.</param>
    /// <returns>The array as a tensor of the matching <see cref="DType"/>.</returns>
    /// <exception cref="HeedException">The data is not a valid .npy array Heed can hold (see <see cref="Read(string)"/>).</exception>
    public static Tensor Read(Stream stream, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("the stream cannot be read", nameof(stream));
        }

        string shownName = name ?? DefaultStreamName;
        return TensorStreams.GuardRead(shownName, () => ReadCore(stream, shownName, requireEnd: false));
    }

    /// <summary>
    /// Writes <paramref name="tensor"/> to <paramref name="path"/> as a .npy file, replacing any file there.
    /// The file is written beside the target under a temporary name and moved into place, so a failure leaves
    /// neither a partial file nor a damaged old one.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="tensor">The tensor to store.</param>
    /// <exception cref="HeedException">The directory does not exist or the file cannot be written.</exception>
    public static void Write(string path, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        byte[] preamble = BuildPreamble(tensor);
        TensorStreams.WriteFileAtomically(path, stream =>
        {
            stream.Write(preamble);
            TensorStreams.WriteTensorData(stream, tensor);
        });
    }

    /// <summary>Writes <paramref name="tensor"/> to <paramref name="stream"/> in .npy format.</summary>
    /// <param name="stream">A writable stream.</param>
    /// <param name="tensor">The tensor to store.</param>
    /// <exception cref="HeedException">The stream fails while writing.</exception>
    public static void Write(Stream stream, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("the stream cannot be written", nameof(stream));
        }

        byte[] preamble = BuildPreamble(tensor);
        TensorStreams.GuardWrite(DefaultStreamName, () =>
        {
            stream.Write(preamble);
            TensorStreams.WriteTensorData(stream, tensor);
        });
    }

    private static Tensor ReadCore(Stream stream, string name, bool requireEnd)
    {
        Span<byte> start = stackalloc byte[8];
        int got = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        if (got < Magic.Length || !start[..Magic.Length].SequenceEqual(Magic))
        {
            throw new HeedException($"{name} is not a .npy file (missing the \\x93NUMPY magic)");
        }

        if (got < start.Length)
        {
            throw TensorStreams.Truncated(name, "the .npy magic and format version", start.Length, got);
        }

        byte major = start[6];
        byte minor = start[7];
        if (minor != 0 || major is < 1 or > 3)
        {
            throw new HeedException(
                $"{name} has .npy format version {major}.{minor}; Heed reads versions 1.0, 2.0 and 3.0");
        }

        int lengthFieldBytes = major == 1 ? 2 : 4;
        Span<byte> lengthField = stackalloc byte[lengthFieldBytes];
        got = stream.ReadAtLeast(lengthField, lengthFieldBytes, throwOnEndOfStream: false);
        if (got < lengthFieldBytes)
        {
            throw TensorStreams.Truncated(name, $"the header length field of a version {major}.0 file", lengthFieldBytes, got);
        }

        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(lengthField)
            : BinaryPrimitives.ReadUInt32LittleEndian(lengthField);
        long? left = TensorStreams.BytesLeft(stream);
        if (left < headerLength)
        {
            throw new HeedException(
                $"{name} is truncated: the header length field says {Invariant(headerLength)} bytes but only {Invariant(left.Value)} bytes follow it");
        }

        if (headerLength > MaxHeaderBytes)
        {
            throw new HeedException(
                $"{name}: the header length field says {Invariant(headerLength)} bytes, over Heed's limit of {Invariant(MaxHeaderBytes)}");
        }

        byte[] headerBytes = TensorStreams.ReadElements<byte>(stream, (int)headerLength, false, name, "the header");
        string header;
        if (major == 3)
        {
            try
            {
                header = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(headerBytes);
            }
            catch (DecoderFallbackException ex)
            {
                throw new HeedException($"{name}: the version 3.0 header is not valid UTF-8", ex);
            }
        }
        else
        {
            header = Encoding.Latin1.GetString(headerBytes);
        }

        (DType dtype, bool bigEndian, int[] shape) = ParseHeader(header, name);
        string shapeText = Tensor.FormatShape(shape);
        Tensor tensor = TensorStreams.ReadTensor(
            stream, dtype, shape, bigEndian, name, $"the {DTypes.Name(dtype)} data of shape {shapeText}");

        if (requireEnd)
        {
            long? extra = TensorStreams.BytesLeft(stream);
            if (extra > 0)
            {
                long dataBytes = (long)tensor.Length * DTypes.SizeOf(dtype);
                throw new HeedException(
                    $"{name} has {Invariant(extra.Value)} unexpected bytes after the array data (the header's {DTypes.Name(dtype)} shape {shapeText} accounts for {Invariant(dataBytes)} bytes)");
            }
        }

        return tensor;
    }

    private static (DType DType, bool BigEndian, int[] Shape) ParseHeader(string header, string name)
    {
        object? parsed;
        try
        {
            parsed = PythonLiteral.Parse(header);
        }
        catch (PythonLiteral.LimitException ex)
        {
            throw new HeedException($"{name}: the header is over Heed's limits: {ex.Message}", ex);
        }
        catch (FormatException ex)
        {
            throw new HeedException($"{name}: the header is not a valid Python dict literal: {ex.Message}", ex);
        }

        if (parsed is not PythonLiteral.Dict dict)
        {
            throw new HeedException($"{name}: the header should be a dict but is {PythonLiteral.Repr(parsed)}");
        }

        object? descrValue = null;
        object? fortranValue = null;
        object? shapeValue = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string key, object? value) in dict.Entries)
        {
            if (!seen.Add(key))
            {
                throw new HeedException($"{name}: the header has the key {TensorStreams.Quote(key)} twice");
            }

            switch (key)
            {
                case "descr":
                    descrValue = value;
                    break;
                case "fortran_order":
                    fortranValue = value;
                    break;
                case "shape":
                    shapeValue = value;
                    break;
                default:
                    throw new HeedException(
                        $"{name}: the header has the unexpected key {TensorStreams.Quote(key)}; expected exactly 'descr', 'fortran_order' and 'shape'");
            }
        }

        foreach (string required in (string[])["descr", "fortran_order", "shape"])
        {
            if (!seen.Contains(required))
            {
                throw new HeedException($"{name}: the header has no '{required}' key");
            }
        }

        if (descrValue is not string descr || ParseDescr(descr) is not { } element)
        {
            throw new HeedException(
                $"{name}: unsupported descr {PythonLiteral.Repr(descrValue)}; {SupportedDescrs}");
        }

        if (fortranValue is not bool fortranOrder)
        {
            throw new HeedException(
                $"{name}: 'fortran_order' should be True or False but is {PythonLiteral.Repr(fortranValue)}");
        }

        if (fortranOrder)
        {
            throw new HeedException(
                $"{name}: Fortran-order arrays are not supported; save with np.ascontiguousarray");
        }

        int[] shape = ParseShape(shapeValue, name);
        return (element.DType, element.BigEndian, shape);
    }

    private static int[] ParseShape(object? value, string name)
    {
        if (value is not PythonLiteral.Sequence { IsTuple: true } tuple)
        {
            throw new HeedException($"{name}: 'shape' should be a tuple of integers but is {PythonLiteral.Repr(value)}");
        }

        // The parser has bounded the rank (64) and each size's digits (19), so this loop and its messages stay small.
        var shape = new int[tuple.Items.Count];
        for (int axis = 0; axis < shape.Length; axis++)
        {
            if (tuple.Items[axis] is not BigInteger size)
            {
                throw new HeedException($"{name}: 'shape' {PythonLiteral.Repr(value)} has a non-integer on axis {axis}");
            }

            if (size.Sign < 0)
            {
                throw new HeedException($"{name}: 'shape' {PythonLiteral.Repr(value)} has the negative size {size} on axis {axis}");
            }

            if (size > int.MaxValue)
            {
                throw new HeedException(
                    $"{name}: 'shape' {PythonLiteral.Repr(value)} has size {size} on axis {axis}, over Heed's limit of {int.MaxValue} per axis");
            }

            shape[axis] = (int)size;
        }

        if (Tensor.LengthOrNull(shape) is null)
        {
            throw new HeedException(
                $"{name}: 'shape' {PythonLiteral.Repr(value)} holds {Tensor.ExactLength(shape)} elements, more than one array can hold ({Array.MaxLength})");
        }

        return shape;
    }

    private static (DType DType, bool BigEndian)? ParseDescr(string descr)
    {
        if (descr == "bfloat16")
        {
            return (DType.BFloat16, false);
        }

        if (descr.Length != 3)
        {
            return null;
        }

        bool bigEndian;
        switch (descr[0])
        {
            case '<':
                bigEndian = false;
                break;
            case '>':
                bigEndian = true;
                break;
            case '=' or '|':
                bigEndian = !BitConverter.IsLittleEndian;
                break;
            default:
                return null;
        }

        DType? dtype = descr.AsSpan(1) switch
        {
            "f4" => DType.Float32,
            "f2" => DType.Float16,
            "f8" => DType.Float64,
            "b1" => DType.Bool,
            "i8" => DType.Int64,
            _ => null,
        };
        return dtype is { } found ? (found, bigEndian) : null;
    }

    private static string Descr(DType dtype) => dtype switch
    {
        DType.Float32 => "<f4",
        DType.Float16 => "<f2",
        DType.BFloat16 => "bfloat16",
        DType.Float64 => "<f8",
        DType.Bool => "|b1",
        DType.Int64 => "<i8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
    };

    /// <summary>The shape as Python writes a tuple: (), (5,), (2, 3).</summary>
    private static string ShapeRepr(ReadOnlySpan<int> shape)
    {
        if (shape.Length == 1)
        {
            return "(" + Invariant(shape[0]) + ",)";
        }

        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++) parts[i] = Invariant(shape[i]);
        return "(" + string.Join(", ", parts) + ")";
    }

    /// <summary>Magic, version, header length and header, laid out byte for byte as numpy.save does.</summary>
    private static byte[] BuildPreamble(Tensor tensor)
    {
        var header = new StringBuilder();
        header.Append("{'descr': '").Append(Descr(tensor.DType)).Append("', 'fortran_order': False, 'shape': ")
            .Append(ShapeRepr(tensor.Shape)).Append(", }");
        if (tensor.Rank > 0)
        {
            // Spare room so a tool can grow the first axis in place, as NumPy leaves it.
            header.Append(' ', Math.Max(0, GrowthAxisMaxDigits - Invariant(tensor.Shape[0]).Length));
        }

        byte[] text = Encoding.ASCII.GetBytes(header.ToString());
        int textWithNewline = text.Length + 1;
        byte major = 1;
        int lengthFieldBytes = 2;
        int padding = Alignment - ((Magic.Length + 2 + lengthFieldBytes + textWithNewline) % Alignment);
        if (textWithNewline + padding > ushort.MaxValue)
        {
            major = 2;
            lengthFieldBytes = 4;
            padding = Alignment - ((Magic.Length + 2 + lengthFieldBytes + textWithNewline) % Alignment);
        }

        int headerLength = textWithNewline + padding;
        var preamble = new byte[Magic.Length + 2 + lengthFieldBytes + headerLength];
        Magic.CopyTo(preamble);
        preamble[6] = major;
        preamble[7] = 0;
        Span<byte> lengthField = preamble.AsSpan(8, lengthFieldBytes);
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(lengthField, (ushort)headerLength);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(lengthField, (uint)headerLength);
        }

        Span<byte> rest = preamble.AsSpan(8 + lengthFieldBytes);
        text.CopyTo(rest);
        rest[text.Length..^1].Fill((byte)' ');
        rest[^1] = (byte)'\n';
        return preamble;
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
