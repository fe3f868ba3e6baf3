using System.Buffers.Binary;
using System.Text;
using Heed.IO;
using static Heed.Core.Tests.IO.IOTestData;

namespace Heed.Core.Tests.IO;

public class SafetensorsTests
{
    // ---- helpers ---------------------------------------------------------------------------------------------

    /// <summary>A safetensors file: 8-byte little-endian header length, the header text as given, then the buffer.</summary>
    private static byte[] FileBytes(string header, byte[] buffer) => FileBytes(Encoding.UTF8.GetBytes(header), buffer);

    private static byte[] FileBytes(byte[] header, byte[] buffer)
    {
        var bytes = new byte[8 + header.Length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        buffer.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    private static SafetensorsFile ReadBytes(byte[] bytes, string name = "m.safetensors") =>
        Safetensors.ReadWithMetadata(new MemoryStream(bytes), name);

    private static byte[] WriteBytes(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var stream = new MemoryStream();
        Safetensors.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    private static Dictionary<string, Tensor> One(string name, Tensor tensor) => new() { [name] = tensor };

    // ---- round trips -----------------------------------------------------------------------------------------

    public static TheoryData<DType, int[]> Grid => DTypesByShapes();

    [Theory]
    [MemberData(nameof(Grid))]
    public void Round_trip_through_a_stream_keeps_every_bit(DType dtype, int[] shape)
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["x"] = Sample(dtype, shape),
            ["after"] = Tensor.Create([1.0f, -0.0f], 2),
        };

        IReadOnlyDictionary<string, Tensor> back = Safetensors.Read(new MemoryStream(WriteBytes(tensors)));

        Assert.Equal(2, back.Count);
        AssertSameBits(tensors["x"], back["x"]);
        AssertSameBits(tensors["after"], back["after"]);
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void Round_trip_through_a_file_keeps_every_bit(DType dtype, int[] shape)
    {
        using var dir = new TempFolder();
        string path = dir.File("m.safetensors");
        Tensor tensor = Sample(dtype, shape);

        Safetensors.Write(path, One("weight", tensor));

        IReadOnlyDictionary<string, Tensor> back = Safetensors.Read(path);
        Assert.Equal(["weight"], back.Keys);
        AssertSameBits(tensor, back["weight"]);
        Assert.Equal(["m.safetensors"], dir.Entries());
    }

    [Fact]
    public void Round_trip_keeps_all_dtypes_together_and_the_metadata()
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (DType dtype in AllDTypes) tensors["t." + DTypes.Name(dtype)] = Sample(dtype, [2, 3]);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓ \"quoted\"" };
        using var dir = new TempFolder();
        string path = dir.File("all.safetensors");

        Safetensors.Write(path, tensors, metadata);
        SafetensorsFile file = Safetensors.ReadWithMetadata(path);

        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), file.Tensors.Keys);
        foreach ((string name, Tensor tensor) in tensors) AssertSameBits(tensor, file.Tensors[name]);
        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), file.Metadata);
    }

    [Fact]
    public void Reads_a_stream_that_cannot_seek()
    {
        Tensor tensor = Sample(DType.BFloat16, [2, 3, 4, 1]);
        byte[] bytes = WriteBytes(One("b", tensor), new Dictionary<string, string> { ["k"] = "v" });

        SafetensorsFile file = Safetensors.ReadWithMetadata(new ForwardOnlyStream(bytes), "pipe");

        AssertSameBits(tensor, file.Tensors["b"]);
        Assert.Equal("v", file.Metadata["k"]);
    }

    [Fact]
    public void An_empty_file_holds_no_tensors()
    {
        byte[] bytes = WriteBytes(new Dictionary<string, Tensor>());

        Assert.Equal(FileBytes("{}      ", []), bytes);
        Assert.Empty(ReadBytes(bytes).Tensors);
        Assert.Empty(ReadBytes(bytes).Metadata);
    }

    // ---- the byte layout, written out by hand ----------------------------------------------------------------

    [Fact]
    public void Writer_output_matches_the_format_byte_for_byte()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["b"] = Tensor.Create([1.5f, -2f], 2),
            ["a"] = Tensor.Create([-1L], 1, 1),
            ["c"] = Tensor.Create(Array.Empty<bool>(), 0),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };

        // Sorted names, contiguous offsets, compact JSON: 197 bytes padded with three spaces to 200, a multiple of 8.
        const string Json = "{\"__metadata__\":{\"format\":\"pt\"},"
            + "\"a\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
            + "\"c\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[16,16]}}";
        Assert.Equal(197, Json.Length);
        byte[] buffer =
        [
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // -1L
            0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0, // 1.5f, -2f
        ];
        byte[] expected = FileBytes(Json + "   ", buffer);

        Assert.Equal(expected, WriteBytes(tensors, metadata));
    }

    [Fact]
    public void Reads_a_hand_written_file_with_any_json_layout()
    {
        const string Json = "{\n  \"w\": {\"data_offsets\": [4, 12], \"shape\": [2], \"dtype\": \"F32\"},\n"
            + "  \"h\": {\"shape\": [2], \"dtype\": \"F16\", \"data_offsets\": [0, 4]},\n"
            + "  \"__metadata__\": {\"source\": \"by hand\"}\n}   ";
        byte[] buffer = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x00, 0x80, 0x7F, 0x00, 0x00, 0x00, 0x80];

        SafetensorsFile file = ReadBytes(FileBytes(Json, buffer));

        Assert.Equal(["w", "h"], file.Tensors.Keys);
        Assert.Equal([1.0, -2.0], file.Tensors["h"].ToDoubleArray());
        var w = (Tensor<float>)file.Tensors["w"];
        Assert.Equal(float.PositiveInfinity, w.Data[0]);
        Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(w.Data[1]));
        Assert.Equal("by hand", file.Metadata["source"]);
    }

    [Fact]
    public void Zero_size_tensors_may_sit_anywhere_on_the_boundaries()
    {
        const string Json = "{\"e1\":{\"dtype\":\"F64\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
            + "\"x\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
            + "\"e2\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[2,2]}}";

        SafetensorsFile file = ReadBytes(FileBytes(Json, [0x80, 0x3F]));

        Assert.Equal([0, 4], file.Tensors["e1"].Shape.ToArray());
        Assert.Equal([1.0], file.Tensors["x"].ToDoubleArray());
        Assert.Equal([3, 0], file.Tensors["e2"].Shape.ToArray());
    }

    [Fact]
    public void Bool_bytes_other_than_0_and_1_read_as_true()
    {
        var t = (Tensor<bool>)ReadBytes(FileBytes("{\"z\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", [0, 7, 1])).Tensors["z"];

        Assert.Equal([0, 1, 1], Bytes(t));
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Files_shorter_than_the_length_field_are_refused(int length)
    {
        HeedAssert.Fails(() => ReadBytes(new byte[length], "s.safetensors"), $"s.safetensors is too short for a safetensors file: {length} bytes");
    }

    [Theory]
    [InlineData(100UL, "the header length field says 100 bytes but only 10 bytes follow it")]
    [InlineData(ulong.MaxValue, "the header length field says 18446744073709551615 bytes but only 10 bytes follow it")]
    public void Header_length_beyond_the_file_is_refused(ulong claimed, string fragment)
    {
        byte[] bytes = FileBytes("{}        ", []);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimed);

        HeedAssert.Fails(() => ReadBytes(bytes, "h.safetensors"), "h.safetensors: " + fragment);
    }

    [Fact]
    public void Header_length_beyond_a_stream_that_cannot_seek_is_truncation()
    {
        byte[] bytes = FileBytes("{}        ", []);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 5000);

        HeedAssert.Fails(() => Safetensors.Read(new ForwardOnlyStream(bytes), "pipe"), "pipe is truncated: the JSON header needs 5000 bytes but only 10 were found");
    }

    [Fact]
    public void Header_length_over_the_limit_is_refused_without_allocating()
    {
        byte[] bytes = FileBytes("{}", []);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 40);

        HeedAssert.Fails(() => Safetensors.Read(new ForwardOnlyStream(bytes), "pipe"), "pipe: the header length field says 1099511627776 bytes, over Heed's limit of 100000000");
    }

    [Theory]
    [InlineData("{\"a\": ", "the header is not valid JSON")]
    [InlineData("not json", "the header is not valid JSON")]
    [InlineData("", "the header is not valid JSON")]
    [InlineData("{\"a\":{}} {}", "the header is not valid JSON")]
    [InlineData("[1, 2]", "the header should be a JSON object but is an array ([1, 2])")]
    [InlineData("\"text\"", "the header should be a JSON object but is a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", "the header has the key \"a\" twice")]
    [InlineData("{\"a\": [1]}", "tensor \"a\" should be a JSON object with dtype, shape and data_offsets but is an array")]
    [InlineData("{\"a\":{\"shape\":[0],\"data_offsets\":[0,0]}}", "tensor \"a\" has no \"dtype\" field")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,0]}}", "tensor \"a\" has no \"shape\" field")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0]}}", "tensor \"a\" has no \"data_offsets\" field")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],\"extra\":1}}", "tensor \"a\" has the unexpected field \"extra\"")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", "tensor \"a\" has the field \"dtype\" twice")]
    [InlineData("{\"a\":{\"dtype\":32,\"shape\":[0],\"data_offsets\":[0,0]}}", "tensor \"a\" has a dtype that is not a string: a number (32)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", "tensor \"a\" has a number (-1) on axis 0 of its shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", "tensor \"a\" has a number (1.5) on axis 0 of its shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,0]}}", "tensor \"a\" has a string (\"2\") on axis 1 of its shape")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,0]}}", "tensor \"a\" has a shape that is not an array of integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,0]}}", "size 3000000000 on axis 0 of its shape, over Heed's limit")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[100000,100000],\"data_offsets\":[0,0]}}", "more elements than one array can hold")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0]}}", "tensor \"a\" has data_offsets an array ([0]); expected [begin, end]")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,0]}}", "expected [begin, end], two non-negative integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":null}}", "tensor \"a\" has data_offsets null; expected [begin, end]")]
    [InlineData("{\"__metadata__\":[\"x\"]}", "__metadata__ should be a JSON object of strings but is an array")]
    [InlineData("{\"__metadata__\":{\"n\":1}}", "__metadata__ entry \"n\" should be a string but is a number (1)")]
    public void Malformed_headers_are_refused(string header, string fragment)
    {
        HeedAssert.Fails(() => ReadBytes(FileBytes(header, new byte[8]), "bad.safetensors"), "bad.safetensors: ", fragment);
    }

    [Theory]
    [InlineData("I32")]
    [InlineData("U8")]
    [InlineData("F8_E4M3")]
    [InlineData("f32")]
    [InlineData("")]
    public void Unknown_dtypes_name_the_tensor_and_the_dtype(string dtype)
    {
        string header = $"{{\"layer.0\":{{\"dtype\":\"{dtype}\",\"shape\":[2],\"data_offsets\":[0,8]}}}}";

        HeedAssert.Fails(
            () => ReadBytes(FileBytes(header, new byte[8]), "d.safetensors"),
            $"d.safetensors: tensor \"layer.0\" has dtype \"{dtype}\", which Heed does not read; supported: F32, F16, BF16, F64, I64, BOOL");
    }

    [Theory]
    [InlineData("{\"bad\\ud800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}")]
    [InlineData("{\"__metadata__\":{\"k\":\"\\udc00\"}}")]
    public void Escaped_lone_surrogates_are_refused(string header)
    {
        HeedAssert.Fails(() => ReadBytes(FileBytes(header, []), "s.safetensors"), "s.safetensors: the header holds text that is not valid Unicode");
    }

    [Theory]
    [InlineData("[2147483647,0]")]
    [InlineData("[0,2147483647,2147483647]")]
    public void A_shape_with_a_zero_axis_is_an_empty_tensor_whatever_the_other_axes_hold(string shape)
    {
        // Once an ArgumentException ("internal error" in the CLI): the product overflowed before it reached the 0.
        string header = $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,0]}}}}";

        Assert.Equal(0, ReadBytes(FileBytes(header, [])).Tensors["a"].Length);
    }

    [Fact]
    public void A_shape_over_the_array_limit_is_refused_before_its_data_is_read()
    {
        string header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,3],\"data_offsets\":[0,4]}}";

        HeedAssert.Fails(() => ReadBytes(FileBytes(header, new byte[4]), "r.safetensors"), "r.safetensors: tensor \"a\" has shape [2147483647, 2147483647, 3], more elements than one array can hold");
    }

    [Fact]
    public void A_shape_of_a_million_axes_is_refused_before_it_is_read()
    {
        // Once a product of a million big integers: 62 GB of allocation.
        string shape = "[" + string.Join(",", Enumerable.Repeat("2", 1_000_000)) + "]";
        string header = $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,16]}}}}";

        HeedException ex = HeedAssert.Fails(() => ReadBytes(FileBytes(header, new byte[16]), "r.safetensors"), "r.safetensors: tensor \"a\" has a shape of 1000000 axes; Heed reads at most 64");
        Assert.True(ex.Message.Length < 200, ex.Message);
    }

    [Fact]
    public void Shapes_have_at_most_64_axes_and_long_ones_are_shown_cut()
    {
        string Shape(int count, int size) => "[" + string.Join(",", Enumerable.Repeat(size, count)) + "]";
        string Header(string shape) => $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[0,4]}}}}";
        Assert.Equal(64, ReadBytes(FileBytes(Header(Shape(64, 1)), new byte[4])).Tensors["a"].Rank);
        HeedAssert.Fails(() => ReadBytes(FileBytes(Header(Shape(65, 1)), new byte[4]), "r.safetensors"), "a shape of 65 axes; Heed reads at most 64");

        HeedException ex = HeedAssert.Fails(
            () => ReadBytes(FileBytes(Header(Shape(64, 2)), new byte[4]), "r.safetensors"),
            "r.safetensors: tensor \"a\" has shape [2, 2, 2, 2, 2, 2, 2, 2, ..., 2, 2] (rank 64), more elements than one array can hold");
        Assert.True(ex.Message.Length < 200, ex.Message);
    }

    [Fact]
    public void Header_must_be_utf8()
    {
        byte[] header = Encoding.UTF8.GetBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        header[2] = 0xC3; // a lead byte without its continuation

        HeedAssert.Fails(() => ReadBytes(FileBytes(header, []), "u.safetensors"), "u.safetensors: the header is not valid UTF-8");
    }

    [Theory]
    [InlineData("[0,12]", 8, "tensor \"a\" has data_offsets [0, 12], beyond the end of the file: the data buffer holds 8 bytes")]
    [InlineData("[8,4]", 8, "tensor \"a\" has data_offsets [8, 4], which end before they begin")]
    [InlineData("[0,4]", 4, "tensor \"a\" has data_offsets [0, 4], which span 4 bytes, but F32 shape [2] needs 8")]
    [InlineData("[0,9223372036854775807]", 8, "beyond the end of the file")]
    public void Offsets_are_checked_against_the_file_and_the_shape(string offsets, int bufferLength, string fragment)
    {
        string header = $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{offsets}}}}}";

        HeedAssert.Fails(() => ReadBytes(FileBytes(header, new byte[bufferLength]), "o.safetensors"), "o.safetensors: ", fragment);
    }

    [Theory]
    [InlineData("[0,8]", "[12,16]", 16, "the data buffer has a hole: bytes [8, 12) before tensor \"b\" belong to no tensor")]
    [InlineData("[4,12]", "[12,16]", 16, "the data buffer has a hole: bytes [0, 4) before tensor \"a\"")]
    [InlineData("[0,8]", "[8,12]", 20, "the data buffer has a hole: bytes [12, 20) at its end belong to no tensor")]
    [InlineData("[0,8]", "[4,8]", 8, "tensor \"b\" (data_offsets [4, 8]) overlaps tensor \"a\" (data_offsets [0, 8])")]
    [InlineData("[0,8]", "[0,4]", 8, "tensor \"a\" (data_offsets [0, 8]) overlaps tensor \"b\" (data_offsets [0, 4])")]
    public void Holes_and_overlaps_are_refused(string aOffsets, string bOffsets, int bufferLength, string fragment)
    {
        // "a" holds two float32s (8 bytes), "b" one (4 bytes).
        string header = $"{{\"a\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{aOffsets}}},"
            + $"\"b\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{bOffsets}}}}}";

        HeedAssert.Fails(() => ReadBytes(FileBytes(header, new byte[bufferLength]), "c.safetensors"), "c.safetensors: " + fragment);
    }

    [Fact]
    public void Trailing_bytes_in_a_stream_that_cannot_seek_are_a_hole()
    {
        byte[] bytes = FileBytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[6]);

        HeedAssert.Fails(() => Safetensors.Read(new ForwardOnlyStream(bytes), "pipe"), "pipe: the data buffer goes on after byte 4, where the last tensor ends");
    }

    [Fact]
    public void Truncated_data_in_a_stream_that_cannot_seek_reports_the_tensor()
    {
        byte[] bytes = FileBytes("{\"a\":{\"dtype\":\"F64\",\"shape\":[1000000],\"data_offsets\":[0,8000000]}}", new byte[6]);

        HeedAssert.Fails(() => Safetensors.Read(new ForwardOnlyStream(bytes), "pipe"), "pipe is truncated: the data of tensor 'a' needs 8000000 bytes but only 6 were found");
    }

    [Fact]
    public void Missing_file_is_reported_as_such()
    {
        using var dir = new TempFolder();
        string path = dir.File("absent.safetensors");

        HeedAssert.Fails(() => Safetensors.Read(path), "file not found: " + path);
        HeedAssert.Fails(() => Safetensors.ReadWithMetadata(path), "file not found: " + path);
    }

    [Fact]
    public void Errors_from_a_file_name_the_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("x.safetensors");
        File.WriteAllBytes(path, FileBytes("{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]));

        HeedAssert.Fails(() => Safetensors.Read(path), path + ": tensor \"a\" has dtype \"I32\"");
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    [Fact]
    public void The_metadata_key_cannot_name_a_tensor()
    {
        HeedAssert.Fails(() => WriteBytes(One("__metadata__", Tensor.Create([1f], 1))), "cannot write a tensor named \"__metadata__\"");
    }

    [Fact]
    public void Names_that_are_not_valid_unicode_are_refused()
    {
        HeedAssert.Fails(() => WriteBytes(One("bad\uD800name", Tensor.Create([1f], 1))), "cannot write the safetensors header: tensor name \"bad\\ud800name\" is not valid Unicode");
        HeedAssert.Fails(
            () => WriteBytes(One("ok", Tensor.Create([1f], 1)), new Dictionary<string, string> { ["k"] = "\uDC00" }),
            "the value of metadata key \"k\" \"\\udc00\" is not valid Unicode");
    }

    [Fact]
    public void Writing_into_a_missing_directory_names_it_and_leaves_nothing()
    {
        using var dir = new TempFolder();
        string missing = Path.Combine(dir.Path, "missing");
        string path = Path.Combine(missing, "m.safetensors");

        HeedAssert.Fails(() => Safetensors.Write(path, One("a", Tensor.Create([1f], 1))), "cannot write " + path, "directory " + missing + " does not exist");
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void A_failed_write_keeps_the_old_file()
    {
        using var dir = new TempFolder();
        string path = dir.File("m.safetensors");
        Safetensors.Write(path, One("a", Tensor.Create([1f], 1)));
        byte[] before = File.ReadAllBytes(path);

        HeedAssert.Fails(() => Safetensors.Write(path, One("__metadata__", Tensor.Create([2f], 1))), "__metadata__");

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["m.safetensors"], dir.Entries());
    }
}
