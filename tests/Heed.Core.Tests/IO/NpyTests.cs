using System.Buffers.Binary;
using System.Text;
using Heed.IO;
using static Heed.Core.Tests.IO.IOTestData;

namespace Heed.Core.Tests.IO;

public class NpyTests
{
    // ---- helpers ---------------------------------------------------------------------------------------------

    /// <summary>
    /// A .npy file laid out by NumPy's rules: magic, version, little-endian header length (2 bytes for 1.0, 4 for
    /// 2.0 and 3.0), the dict text, spaces, and '\n', so that the data starts at a multiple of 64 (a full 64 more
    /// when the text already ends on the boundary).
    /// </summary>
    private static byte[] NumpyFile(string dictText, byte[] data, int major = 1)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        byte[] dict = Encoding.UTF8.GetBytes(dictText);
        int unpadded = 6 + 2 + lengthBytes + dict.Length + 1;
        int padding = 64 - (unpadded % 64);
        int headerLength = dict.Length + padding + 1;
        var file = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        var length = new byte[lengthBytes];
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)headerLength);
        else BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)headerLength);
        file.AddRange(length);
        file.AddRange(dict);
        file.AddRange(Enumerable.Repeat((byte)' ', padding));
        file.Add((byte)'\n');
        Assert.Equal(0, file.Count % 64);
        file.AddRange(data);
        return [.. file];
    }

    private static byte[] Float32Le(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    private static Tensor ReadBytes(byte[] bytes, string name = "test.npy") => Npy.Read(new MemoryStream(bytes), name);

    private static byte[] WriteBytes(Tensor tensor)
    {
        var stream = new MemoryStream();
        Npy.Write(stream, tensor);
        return stream.ToArray();
    }

    private static string Golden(string file) => TestPaths.TestData("npy", file);

    // ---- round trips -----------------------------------------------------------------------------------------

    public static TheoryData<DType, int[]> Grid => DTypesByShapes();

    [Theory]
    [MemberData(nameof(Grid))]
    public void Round_trip_through_a_stream_keeps_every_bit(DType dtype, int[] shape)
    {
        Tensor tensor = Sample(dtype, shape);
        var stream = new MemoryStream();
        Npy.Write(stream, tensor);
        Assert.Equal(0, (stream.Length - ((long)tensor.Length * DTypes.SizeOf(dtype))) % 64);
        stream.Position = 0;
        Tensor back = Npy.Read(stream);
        AssertSameBits(tensor, back);
        Assert.Equal(stream.Length, stream.Position);
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void Round_trip_through_a_file_keeps_every_bit(DType dtype, int[] shape)
    {
        using var dir = new TempFolder();
        string path = dir.File("t.npy");
        Tensor tensor = Sample(dtype, shape);
        Npy.Write(path, tensor);
        AssertSameBits(tensor, Npy.Read(path));
        Assert.Equal(["t.npy"], dir.Entries());
    }

    [Fact]
    public void Several_arrays_follow_each_other_in_one_stream()
    {
        var stream = new MemoryStream();
        Npy.Write(stream, Tensor.Create([1.0f, 2.0f], 2));
        Npy.Write(stream, Tensor.Create([7L], 1));
        stream.Position = 0;
        Assert.Equal([1.0f, 2.0f], ((Tensor<float>)Npy.Read(stream)).Data);
        Assert.Equal([7L], ((Tensor<long>)Npy.Read(stream)).Data);
    }

    [Fact]
    public void Reading_from_a_stream_that_cannot_seek_works()
    {
        Tensor tensor = Sample(DType.Float64, [2, 3, 4, 1]);
        var forward = new ForwardOnlyStream(WriteBytes(tensor));
        AssertSameBits(tensor, Npy.Read(forward));
    }

    // ---- NumPy's byte layout, written out by hand ------------------------------------------------------------

    [Fact]
    public void Writer_output_is_what_numpy_writes_for_a_2x3_float32()
    {
        // np.save of np.arange(6, dtype='<f4').reshape(2, 3): the dict, 20 spare spaces for the first axis and
        // padding to 128 bytes, all spaces, then '\n'.
        const string Dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        var expected = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 118, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(Dict));
        expected.AddRange(Enumerable.Repeat((byte)' ', 128 - 10 - Dict.Length - 1));
        expected.Add((byte)'\n');
        expected.AddRange(Float32Le(0, 1, 2, 3, 4, 5));

        byte[] actual = WriteBytes(Tensor.Create([0f, 1, 2, 3, 4, 5], 2, 3));

        Assert.Equal(expected.ToArray(), actual);
    }

    [Theory]
    [InlineData(DType.Float64, new int[0], "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 128)]
    [InlineData(DType.Float32, new[] { 5 }, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 128)]
    [InlineData(DType.Bool, new[] { 0 }, "{'descr': '|b1', 'fortran_order': False, 'shape': (0,), }", 128)]
    [InlineData(DType.Int64, new[] { 2, 3, 4, 1 }, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3, 4, 1), }", 128)]
    [InlineData(DType.Float16, new[] { 1, 2 }, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2), }", 128)]
    [InlineData(DType.BFloat16, new[] { 3 }, "{'descr': 'bfloat16', 'fortran_order': False, 'shape': (3,), }", 128)]
    [InlineData(DType.Float32, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }", 192)]
    public void Writer_header_is_numpys_dict_padded_to_64_bytes(DType dtype, int[] shape, string dict, int preambleLength)
    {
        byte[] actual = WriteBytes(Tensor.Zeros(dtype, shape));

        Assert.Equal(preambleLength + (Tensor.CheckedLength(shape) * DTypes.SizeOf(dtype)), actual.Length);
        Assert.Equal(preambleLength - 10, BinaryPrimitives.ReadUInt16LittleEndian(actual.AsSpan(8)));
        string header = Encoding.ASCII.GetString(actual, 10, preambleLength - 10);
        Assert.Equal(dict + new string(' ', preambleLength - 10 - dict.Length - 1) + "\n", header);
    }

    public static TheoryData<string, byte[], DType, int[], double[]> HandBuiltFiles => new()
    {
        { "<f4", Float32Le(1.5f, -2f, float.PositiveInfinity), DType.Float32, [3], [1.5, -2, double.PositiveInfinity] },
        { "=f4", Float32Le(0.25f), DType.Float32, [1], [0.25] },
        { ">f4", [0x3F, 0xC0, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00], DType.Float32, [2], [1.5, -2] },
        { "|b1", [1, 0, 0, 1, 1, 0], DType.Bool, [2, 3], [1, 0, 0, 1, 1, 0] },
        { "<i8", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0, 0, 0, 0, 0, 0, 0], DType.Int64, [2], [-1, 5] },
        { ">i8", [0, 0, 0, 0, 0, 0, 0x01, 0x00], DType.Int64, [], [256] },
        { "<f2", [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B], DType.Float16, [3], [1, -2, 65504] },
        { ">f2", [0x3C, 0x00, 0x80, 0x00], DType.Float16, [2], [1, -0.0] },
        { "<f8", [0, 0, 0, 0, 0, 0, 0xF8, 0x3F], DType.Float64, [1, 1], [1.5] },
        { ">f8", [0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xC0, 0x02, 0, 0, 0, 0, 0, 0], DType.Float64, [2], [1.5, -2.25] },
        { "bfloat16", [0x80, 0x3F, 0x20, 0xC0], DType.BFloat16, [2], [1, -2.5] },
    };

    [Theory]
    [MemberData(nameof(HandBuiltFiles))]
    public void Reads_files_laid_out_as_numpy_writes_them(string descr, byte[] data, DType dtype, int[] shape, double[] values)
    {
        string shapeText = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0]},)",
            _ => "(" + string.Join(", ", shape) + ")",
        };
        byte[] file = NumpyFile($"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}", data);

        Tensor tensor = ReadBytes(file);

        Assert.Equal(dtype, tensor.DType);
        Assert.Equal(shape, tensor.Shape.ToArray());
        Assert.Equal(values, tensor.ToDoubleArray());
        if (dtype != DType.Bool && values.Contains(-0.0))
        {
            Assert.True(double.IsNegative(tensor.ToDoubleArray()[Array.IndexOf(values, -0.0)]));
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Reads_format_versions_2_and_3(int major)
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Float32Le(4, 5), major);

        var tensor = (Tensor<float>)ReadBytes(file);

        Assert.Equal([4f, 5f], tensor.Data);
    }

    [Theory]
    [InlineData("{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}")]
    [InlineData("{'fortran_order':False,'descr':'<f4','shape':(2,)}")]
    [InlineData("{ 'descr' : \"<f4\" , 'fortran_order' : False , 'shape' : ( 2 , ) , }")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }")]
    [InlineData("{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2,)\n}")]
    [InlineData("  {'descr': '<f4', 'fortran_order': False, 'shape': (2,),}\t")]
    public void Header_dict_may_be_spelled_in_any_valid_way(string dict)
    {
        var tensor = (Tensor<float>)ReadBytes(NumpyFile(dict, Float32Le(4, 5)));

        Assert.Equal([2], tensor.Shape.ToArray());
        Assert.Equal([4f, 5f], tensor.Data);
    }

    [Fact]
    public void Bool_bytes_other_than_0_and_1_read_as_true()
    {
        var tensor = (Tensor<bool>)ReadBytes(NumpyFile("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [0, 2, 255]));

        Assert.Equal([false, true, true], tensor.Data);
        Assert.Equal([0, 1, 1], Bytes(tensor));
    }

    // ---- golden files written by NumPy (tests/TestData/npy/make_npy.py) --------------------------------------

    public static TheoryData<string, DType, int[], double[]> GoldenFiles => new()
    {
        { "f4_2x3.npy", DType.Float32, [2, 3], [-1, -0.5, 0, 0.5, 1, 1.5] },
        { "f2_4.npy", DType.Float16, [4], [1, -2, 65504, 5.9604644775390625e-8] },
        { "f8_specials.npy", DType.Float64, [6], [0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1e-300] },
        { "b1_2x2.npy", DType.Bool, [2, 2], [1, 0, 0, 1] },
        { "i8_3.npy", DType.Int64, [3], [-9.2233720368547758e18, -1, 9.2233720368547758e18] },
        { "f4_scalar.npy", DType.Float32, [], [3.5] },
        { "f4_0x3.npy", DType.Float32, [0, 3], [] },
        { "f4_2x3x4x1.npy", DType.Float32, [2, 3, 4, 1], [.. Enumerable.Range(0, 24).Select(i => (double)i)] },
        { "f4_rank15.npy", DType.Float32, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [7] },
        { "f4_exact_pad.npy", DType.Float32, [0, 1, 1, 1, 1, 1, 1, 1, 1, 100, 1000, 1000], [] },
        { "f8_be_3.npy", DType.Float64, [3], [1.5, -2.25, 1e300] },
        { "f4_be_2.npy", DType.Float32, [2], [(double)0.1f, -3] },
        { "f4_v2.npy", DType.Float32, [3], [1, 2, 3] },
        { "f4_v3.npy", DType.Float32, [2], [4, 5] },
    };

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void Reads_files_written_by_numpy(string file, DType dtype, int[] shape, double[] values)
    {
        Tensor tensor = Npy.Read(Golden(file));

        Assert.Equal(dtype, tensor.DType);
        Assert.Equal(shape, tensor.Shape.ToArray());
        Assert.Equal(values, tensor.ToDoubleArray());
    }

    [Fact]
    public void Reads_int64_extremes_exactly()
    {
        var tensor = (Tensor<long>)Npy.Read(Golden("i8_3.npy"));

        Assert.Equal([long.MinValue, -1, long.MaxValue], tensor.Data);
    }

    [Theory]
    [InlineData("f4_2x3.npy")]
    [InlineData("f2_4.npy")]
    [InlineData("f8_specials.npy")]
    [InlineData("b1_2x2.npy")]
    [InlineData("i8_3.npy")]
    [InlineData("f4_scalar.npy")]
    [InlineData("f4_0x3.npy")]
    [InlineData("f4_2x3x4x1.npy")]
    [InlineData("f4_rank15.npy")]
    [InlineData("f4_exact_pad.npy")]
    public void Writes_the_same_bytes_as_numpy(string file)
    {
        string path = Golden(file);
        byte[] numpyBytes = File.ReadAllBytes(path);

        Assert.Equal(numpyBytes, WriteBytes(Npy.Read(path)));
    }

    [Theory]
    [InlineData("f8_fortran_2x3.npy", "Fortran-order arrays are not supported; save with np.ascontiguousarray")]
    [InlineData("i4_3.npy", "unsupported descr '<i4'")]
    [InlineData("c8_2.npy", "unsupported descr '<c8'")]
    [InlineData("structured_2.npy", "unsupported descr [('a', '<f4'), ('b', '<i8')]")]
    public void Refuses_numpy_files_it_cannot_hold(string file, string fragment)
    {
        string path = Golden(file);
        HeedAssert.Fails(() => Npy.Read(path), path, fragment);
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x93, (byte)'N', (byte)'U' })]
    [InlineData(new byte[] { (byte)'P', (byte)'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 0x94, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0, 0 })]
    public void Bad_magic_is_not_a_npy_file(byte[] bytes)
    {
        HeedAssert.Fails(() => ReadBytes(bytes, "weights.npy"), "weights.npy is not a .npy file (missing the \\x93NUMPY magic)");
    }

    [Fact]
    public void Bad_magic_in_a_file_names_the_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("notes.npy");
        File.WriteAllText(path, "just some text, long enough");

        HeedAssert.Fails(() => Npy.Read(path), path + " is not a .npy file");
    }

    [Fact]
    public void Truncated_data_reports_expected_and_found_bytes()
    {
        byte[] file = NumpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", new byte[40]);

        HeedAssert.Fails(() => ReadBytes(file, "cut.npy"), "cut.npy is truncated", "float64 data of shape [2, 3]", "needs 48 bytes", "only 40 were found");
    }

    [Fact]
    public void Truncated_data_is_found_in_a_stream_that_cannot_seek()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", new byte[12]);

        HeedAssert.Fails(() => Npy.Read(new ForwardOnlyStream(file), "pipe"), "pipe is truncated", "needs 40 bytes", "only 12 were found");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_huge_claimed_shape_fails_without_allocating_it(bool seekable)
    {
        // 2^30 float64 elements claim 8 GiB; the file holds 8 bytes.
        byte[] file = NumpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824,), }", new byte[8]);
        var forward = new ForwardOnlyStream(file);
        Stream stream = seekable ? new MemoryStream(file) : forward;

        HeedAssert.Fails(() => Npy.Read(stream, "big.npy"), "big.npy is truncated", "needs 8589934592 bytes", "only 8 were found");
        Assert.True(forward.LargestRead <= 1 << 24);
    }

    [Fact]
    public void Header_longer_than_the_file_is_truncation()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Float32Le(1));
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8), 60000);

        HeedAssert.Fails(() => ReadBytes(file, "h.npy"), "h.npy is truncated", "header length field says 60000 bytes", "only 122 bytes follow it");
    }

    [Fact]
    public void Header_longer_than_the_stream_is_truncation()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Float32Le(1));
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8), 60000);

        HeedAssert.Fails(() => Npy.Read(new ForwardOnlyStream(file), "h.npy"), "h.npy is truncated", "the header needs 60000 bytes", "only 122 were found");
    }

    [Fact]
    public void File_cut_inside_the_preamble_is_truncation()
    {
        HeedAssert.Fails(() => ReadBytes([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0x10], "p.npy"), "p.npy is truncated", "header length field");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(4, 0)]
    [InlineData(1, 1)]
    public void Unknown_format_versions_are_refused(int major, int minor)
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Float32Le(1));
        file[6] = (byte)major;
        file[7] = (byte)minor;

        HeedAssert.Fails(() => ReadBytes(file, "v.npy"), $"v.npy has .npy format version {major}.{minor}", "1.0, 2.0 and 3.0");
    }

    [Fact]
    public void Fortran_order_is_refused_with_the_fix()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16]);

        HeedAssert.Fails(() => ReadBytes(file, "f.npy"), "f.npy: Fortran-order arrays are not supported; save with np.ascontiguousarray");
    }

    [Theory]
    [InlineData("'<i4'")]
    [InlineData("'<c8'")]
    [InlineData("'|O'")]
    [InlineData("'<U3'")]
    [InlineData("'<V2'")]
    [InlineData("'<f16'")]
    [InlineData("[('a', '<f4')]")]
    [InlineData("3")]
    public void Unsupported_descr_names_file_descr_and_the_supported_ones(string descr)
    {
        byte[] file = NumpyFile($"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}", new byte[16]);

        HeedAssert.Fails(() => ReadBytes(file, "d.npy"), "d.npy: unsupported descr " + descr, "supported: '<f4', '<f2', 'bfloat16', '<f8', '|b1', '<i8'");
    }

    [Theory]
    [InlineData("(2, -3)", "negative size -3 on axis 1")]
    [InlineData("(4000000000,)", "size 4000000000 on axis 0, over Heed's limit of 2147483647")]
    [InlineData("(100000, 100000)", "holds 10000000000 elements, more than one array can hold")]
    [InlineData("[2, 3]", "'shape' should be a tuple of integers but is [2, 3]")]
    [InlineData("(2, 'x')", "non-integer on axis 1")]
    [InlineData("5", "'shape' should be a tuple of integers but is 5")]
    public void Bad_shapes_are_refused(string shape, string fragment)
    {
        byte[] file = NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", new byte[16]);

        HeedAssert.Fails(() => ReadBytes(file, "s.npy"), "s.npy: ", fragment);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False}", "the header has no 'shape' key")]
    [InlineData("{'descr': '<f4', 'shape': (1,)}", "the header has no 'fortran_order' key")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'")]
    [InlineData("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", "the key 'descr' twice")]
    [InlineData("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "'fortran_order' should be True or False but is 0")]
    [InlineData("['descr', '<f4']", "the header should be a dict")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "not a valid Python dict literal")]
    [InlineData("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", "not a valid Python dict literal")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", "not a valid Python dict literal")]
    [InlineData("", "not a valid Python dict literal")]
    public void Malformed_headers_are_refused(string dict, string fragment)
    {
        HeedAssert.Fails(() => ReadBytes(NumpyFile(dict, new byte[16]), "m.npy"), "m.npy: ", fragment);
    }

    [Theory]
    [InlineData("(2147483647, 0)", new[] { 2147483647, 0 })]
    [InlineData("(0, 2147483647, 2147483647)", new[] { 0, 2147483647, 2147483647 })]
    public void A_shape_with_a_zero_axis_is_an_empty_array_whatever_the_other_axes_hold(string shape, int[] expected)
    {
        // Once an ArgumentException ("internal error" in the CLI): the product overflowed before it reached the 0.
        Tensor read = ReadBytes(NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", []));

        Assert.Equal(expected, read.Shape.ToArray());
        Assert.Equal(0, read.Length);
    }

    [Fact]
    public void A_shape_over_the_array_limit_is_refused_with_its_exact_count()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647, 3), }", new byte[16]);

        HeedAssert.Fails(() => ReadBytes(file, "s.npy"), "s.npy: 'shape' (2147483647, 2147483647, 2147483647, 3) holds 29710560901343952451059843069 elements, more than one array can hold");
    }

    [Fact]
    public void A_shape_of_a_million_axes_is_refused_before_it_is_parsed()
    {
        // Once 26-60 s and 62 GB of allocation: the element count was a product of a million big integers.
        string shape = "(" + string.Join(", ", Enumerable.Repeat("2", 1_000_000)) + ")";
        byte[] file = NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", new byte[16], major: 2);

        HeedException ex = HeedAssert.Fails(() => ReadBytes(file, "a.npy"), "a.npy: the header is over Heed's limits: a tuple or list of more than 64 items", "NumPy arrays have at most 64 axes");
        Assert.True(ex.Message.Length < 200, ex.Message);
    }

    [Fact]
    public void A_dimension_of_a_million_digits_is_refused_before_it_is_parsed()
    {
        // Once 60 s: big-integer parsing is quadratic in the digits.
        byte[] file = NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': ({new string('7', 1_000_000)},), }}", new byte[16], major: 2);

        HeedException ex = HeedAssert.Fails(() => ReadBytes(file, "d.npy"), "d.npy: the header is over Heed's limits: an integer of more than 19 digits at character 51");
        Assert.True(ex.Message.Length < 200, ex.Message);
    }

    [Theory]
    [InlineData("(00000000000000000001,)", "an integer of more than 19 digits")]
    [InlineData("(9999999999999999999,)", "size 9999999999999999999 on axis 0, over Heed's limit of 2147483647")]
    public void Dimensions_have_at_most_19_digits(string shape, string fragment)
    {
        byte[] file = NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", new byte[16]);

        HeedAssert.Fails(() => ReadBytes(file, "s.npy"), "s.npy: ", fragment);
    }

    [Fact]
    public void Shapes_have_at_most_64_axes_and_long_ones_are_shown_cut()
    {
        string Ones(int count) => "(" + string.Join(", ", Enumerable.Repeat("1", count)) + ")";
        Tensor read = ReadBytes(NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {Ones(64)}, }}", Float32Le(5)));
        Assert.Equal(64, read.Rank);
        HeedAssert.Fails(
            () => ReadBytes(NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {Ones(65)}, }}", Float32Le(5)), "s.npy"),
            "s.npy: the header is over Heed's limits: a tuple or list of more than 64 items");

        string negative = Ones(63)[..^1] + ", -1)";
        HeedException ex = HeedAssert.Fails(
            () => ReadBytes(NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {negative}, }}", Float32Le(5)), "s.npy"),
            "s.npy: 'shape' (1, 1, 1, 1, 1, 1, 1, 1, ..., 1, 1, 1, -1 (64 items)) has the negative size -1 on axis 63");
        Assert.True(ex.Message.Length < 200, ex.Message);
    }

    [Fact]
    public void A_deeply_nested_header_is_refused_without_overflowing_the_stack()
    {
        string dict = "{'descr': " + new string('[', 100_000) + ", 'fortran_order': False, 'shape': (1,)}";

        HeedAssert.Fails(() => ReadBytes(NumpyFile(dict, new byte[4], major: 2), "n.npy"), "n.npy: ", "nesting deeper than");
    }

    [Fact]
    public void Version_3_header_must_be_utf8()
    {
        byte[] file = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Float32Le(1), major: 3);
        file[12] = 0xFF;

        HeedAssert.Fails(() => ReadBytes(file, "u.npy"), "u.npy: the version 3.0 header is not valid UTF-8");
    }

    [Fact]
    public void Bytes_after_the_array_in_a_file_are_refused()
    {
        using var dir = new TempFolder();
        string path = dir.File("long.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Float32Le(1, 2, 3)));

        HeedAssert.Fails(() => Npy.Read(path), path + " has 4 unexpected bytes after the array data", "shape [2] accounts for 8 bytes");
    }

    [Fact]
    public void Missing_file_is_reported_as_such()
    {
        using var dir = new TempFolder();
        string path = dir.File("absent.npy");

        var ex = HeedAssert.Fails(() => Npy.Read(path), "file not found: " + path);
        Assert.IsType<FileNotFoundException>(ex.InnerException);
    }

    [Fact]
    public void Missing_directory_on_read_is_file_not_found()
    {
        using var dir = new TempFolder();
        string path = Path.Combine(dir.Path, "nowhere", "absent.npy");

        HeedAssert.Fails(() => Npy.Read(path), "file not found: " + path);
    }

    [Fact]
    public void Reading_a_directory_says_so()
    {
        using var dir = new TempFolder();

        HeedAssert.Fails(() => Npy.Read(dir.Path), dir.Path, "is a directory");
    }

    // ---- writing to paths ------------------------------------------------------------------------------------

    [Fact]
    public void Writing_into_a_missing_directory_names_it_and_leaves_nothing()
    {
        using var dir = new TempFolder();
        string missing = Path.Combine(dir.Path, "missing");
        string path = Path.Combine(missing, "t.npy");

        HeedAssert.Fails(() => Npy.Write(path, Tensor.Create([1f], 1)), "cannot write " + path, "directory " + missing + " does not exist");
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void Writing_over_a_directory_fails_and_leaves_it_alone()
    {
        using var dir = new TempFolder();
        string target = dir.File("taken");
        Directory.CreateDirectory(target);

        HeedAssert.Fails(() => Npy.Write(target, Tensor.Create([1f], 1)), "cannot write " + target, "is a directory");
        Assert.Equal(["taken"], dir.Entries());
        Assert.True(Directory.Exists(target));
    }

    [Fact]
    public void Writing_replaces_an_existing_file_without_leftovers()
    {
        using var dir = new TempFolder();
        string path = dir.File("t.npy");
        File.WriteAllText(path, "old contents");

        Npy.Write(path, Tensor.Create([1.0, 2.0], 2));

        Assert.Equal([1.0, 2.0], ((Tensor<double>)Npy.Read(path)).Data);
        Assert.Equal(["t.npy"], dir.Entries());
    }

    [Fact]
    public void A_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary()
    {
        using var dir = new TempFolder();
        string path = dir.File("t.npy");
        Npy.Write(path, Tensor.Create([1f, 2f], 2));
        byte[] before = File.ReadAllBytes(path);

        // The same path every writer takes, failing after some bytes are out, as a full disk would.
        HeedAssert.Fails(
            () => TensorStreams.WriteFileAtomically(path, stream =>
            {
                stream.Write(new byte[1000]);
                throw new IOException("No space left on device");
            }),
            "cannot write " + path + ": No space left on device");

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["t.npy"], dir.Entries());
    }

    [Fact]
    public void A_header_over_65535_bytes_is_written_as_version_2()
    {
        int[] shape = [.. Enumerable.Repeat(1, 22_000)];
        Tensor tensor = Tensor.Create([2.5], shape);

        byte[] bytes = WriteBytes(tensor);

        Assert.Equal(2, bytes[6]);
        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        Assert.True(headerLength > ushort.MaxValue);
        Assert.Equal(0u, (12 + headerLength) % 64);
        Assert.Equal((byte)'\n', bytes[12 + (int)headerLength - 1]);
        Assert.Equal(12 + headerLength + 8, (uint)bytes.Length);

        // Reading such a file back is refused, as NumPy refuses it: arrays have at most 64 axes.
        HeedAssert.Fails(() => ReadBytes(bytes, "w.npy"), "w.npy: the header is over Heed's limits: a tuple or list of more than 64 items");
    }

    [Fact]
    public void A_failing_stream_becomes_a_heed_exception()
    {
        var readOnly = new MemoryStream(new byte[1000], writable: false);
        Assert.Throws<ArgumentException>(() => Npy.Write(readOnly, Tensor.Create([1f], 1)));

        var full = new MemoryStream(new byte[64]);
        HeedAssert.Fails(() => Npy.Write(full, Tensor.Create([1f], 1)), "cannot write the .npy stream");
    }

    [Fact]
    public void Write_takes_any_name_the_file_system_allows_and_never_quotes_the_temporary_name()
    {
        using var dir = new TempFolder();
        string path = dir.File(new string('n', 251) + ".npy");
        Npy.Write(path, Tensor.FromDoubles(DType.Float32, [2], [1, 2]));
        Assert.Equal([2], Npy.Read(path).Shape.ToArray());

        string tooLong = dir.File(new string('m', 300) + ".npy");
        string message = Assert.Throws<HeedException>(() => Npy.Write(tooLong, Tensor.FromDoubles(DType.Float32, [2], [1, 2]))).Message;
        Assert.StartsWith($"cannot write {tooLong}: ", message, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", message, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
