using Heed.IO;
using Heed.Reference;

namespace Heed.Cli.Tests;

public sealed class AttentionCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static double[] Random(int seed, int count)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
    }

    private string Save(string name, Tensor t)
    {
        string path = _dir.File(name);
        Npy.Write(path, t);
        return path;
    }

    private (string Q, string K, string V, Tensor Qt, Tensor Kt, Tensor Vt) Inputs(DType dtype = DType.Float32, int heads = 4, int kvHeads = 2)
    {
        Tensor q = Tensor.FromDoubles(dtype, [2, heads, 3, 8], Random(1, 2 * heads * 3 * 8));
        Tensor k = Tensor.FromDoubles(dtype, [2, kvHeads, 5, 8], Random(2, 2 * kvHeads * 5 * 8));
        Tensor v = Tensor.FromDoubles(dtype, [2, kvHeads, 5, 6], Random(3, 2 * kvHeads * 5 * 6));
        return (Save("q.npy", q), Save("k.npy", k), Save("v.npy", v), q, k, v);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float64)]
    public void Runs_end_to_end_and_keeps_the_element_type(DType dtype)
    {
        var (q, k, v, qt, kt, vt) = Inputs(dtype);
        string output = _dir.File("y.npy");
        var (code, stdout, stderr) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", v, "--is-causal", "--out", output);
        Assert.True(code == 0, stderr);
        Assert.Contains("[2, 4, 3, 6]", stdout, StringComparison.Ordinal);
        Tensor y = Npy.Read(output);
        Assert.Equal(dtype, y.DType);
        Tensor expected = ReferenceAttention.Compute(new AttentionInputs(qt, kt, vt), new AttentionOptions { IsCausal = true }).Output;
        AssertNear(expected, y); // the default path is the float32 kernel, not the reference
    }

    [Fact]
    public void Every_option_reaches_the_operator()
    {
        // 3-D inputs with head counts, a past cache, a mask, softcap, scale, window, and all optional outputs.
        Tensor q = Tensor.FromDoubles(DType.Float32, [1, 2, 4 * 4], Random(4, 2 * 16));
        Tensor k = Tensor.FromDoubles(DType.Float32, [1, 2, 2 * 4], Random(5, 2 * 8));
        Tensor v = Tensor.FromDoubles(DType.Float32, [1, 2, 2 * 3], Random(6, 2 * 6));
        Tensor pk = Tensor.FromDoubles(DType.Float32, [1, 2, 3, 4], Random(7, 24));
        Tensor pv = Tensor.FromDoubles(DType.Float32, [1, 2, 3, 3], Random(8, 18));
        Tensor mask = Tensor.FromDoubles(DType.Float32, [2, 5], Random(9, 10));
        var inputs = new AttentionInputs(q, k, v) { PastKey = pk, PastValue = pv, AttnMask = mask };
        var options = new AttentionOptions
        {
            QNumHeads = 4,
            KvNumHeads = 2,
            IsCausal = true,
            Scale = 0.3,
            Softcap = 1.5,
            LeftWindowSize = 2,
            RightWindowSize = 0,
            ComputeQkMatmulOutput = true,
            QkMatmulOutputMode = QkMatmulOutputMode.Biased,
            SoftmaxPrecision = SoftmaxPrecision.Float16,
        };
        AttentionResult expected = ReferenceAttention.Compute(inputs, options);

        string y = _dir.File("y.npy"), presentK = _dir.File("pk.npy"), presentV = _dir.File("pv.npy"), qk = _dir.File("qk.npy");
        var (code, _, stderr) = CliRunner.Run(
            "attention", "--q", Save("q.npy", q), "--k", Save("k.npy", k), "--v", Save("v.npy", v),
            "--past-key", Save("past_k.npy", pk), "--past-value", Save("past_v.npy", pv), "--attn-mask", Save("mask.npy", mask),
            "--q-num-heads", "4", "--kv-num-heads", "2", "--is-causal", "--scale", "0.3", "--softcap", "1.5",
            "--left-window-size", "2", "--right-window-size", "0", "--qk-matmul-output-mode", "2", "--softmax-precision", "float16",
            "--out", y, "--present-key", presentK, "--present-value", presentV, "--qk-matmul-output", qk, "--reference");
        Assert.True(code == 0, stderr);
        Assert.Equal(expected.Output.ToDoubleArray(), Npy.Read(y).ToDoubleArray());
        Assert.Equal([1, 2, 5, 4], Npy.Read(presentK).Shape.ToArray());
        Assert.Equal(expected.PresentValue.ToDoubleArray(), Npy.Read(presentV).ToDoubleArray());
        Assert.Equal(expected.QkMatmulOutput!.ToDoubleArray(), Npy.Read(qk).ToDoubleArray());
    }

    [Fact]
    public void Nonpad_kv_seqlen_is_read_as_int64()
    {
        var (q, k, v, qt, kt, vt) = Inputs();
        Tensor lengths = Tensor.Create(new long[] { 5, 2 }, 2);
        string output = _dir.File("y.npy");
        var (code, _, stderr) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", v, "--nonpad-kv-seqlen", Save("len.npy", lengths), "--out", output);
        Assert.True(code == 0, stderr);
        Tensor expected = ReferenceAttention.Compute(new AttentionInputs(qt, kt, vt) { NonpadKvSeqlen = lengths }).Output;
        AssertNear(expected, Npy.Read(output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Grad_output_writes_the_gradients_asked_for(bool reference)
    {
        var (q, k, v, qt, kt, vt) = Inputs();
        Tensor dy = Tensor.FromDoubles(DType.Float32, [2, 4, 3, 6], Random(10, 2 * 4 * 3 * 6));
        Tensor mask = Tensor.Create(Enumerable.Range(0, 15).Select(n => n % 4 != 1).ToArray(), 3, 5);
        string y = _dir.File("y.npy"), dq = _dir.File("dq.npy"), dv = _dir.File("dv.npy");
        string[] args =
        [
            "attention", "--q", q, "--k", k, "--v", v, "--attn-mask", Save("mask.npy", mask), "--is-causal", "--softcap", "2",
            "--grad-output", Save("dy.npy", dy), "--out", y, "--out-grad-q", dq, "--out-grad-v", dv,
        ];
        var (code, stdout, stderr) = CliRunner.Run(reference ? [.. args, "--reference"] : args);
        Assert.True(code == 0, stderr);
        Assert.Contains("dQ float32 [2, 4, 3, 8]", stdout, StringComparison.Ordinal);
        Assert.Contains("dV float32 [2, 2, 5, 6]", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("dK", stdout, StringComparison.Ordinal);

        var options = new AttentionOptions { IsCausal = true, Softcap = 2 };
        AttentionGradients expected = ReferenceAttentionBackward.Compute(new AttentionInputs(qt, kt, vt) { AttnMask = mask }, dy, options);
        AssertNear(expected.Output, Npy.Read(y));
        AssertNear(expected.GradQuery, Npy.Read(dq));
        AssertNear(expected.GradValue, Npy.Read(dv));
        Assert.False(File.Exists(_dir.File("dk.npy")));
    }

    [Fact]
    public void Gradients_with_a_past_cache_are_refused()
    {
        var (q, k, v, _, _, _) = Inputs();
        string pk = Save("pk.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 1, 8], new double[32]));
        string pv = Save("pv.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 1, 6], new double[24]));
        string dy = Save("dy.npy", Tensor.FromDoubles(DType.Float32, [2, 4, 3, 6], new double[144]));
        AssertFails("the cache is not differentiated", "attention", "--q", q, "--k", k, "--v", v, "--past-key", pk, "--past-value", pv, "--grad-output", dy, "--out", _dir.File("y.npy"), "--out-grad-q", _dir.File("dq.npy"));
        Assert.False(File.Exists(_dir.File("dq.npy")));
    }

    [Fact]
    public void Gradient_outputs_need_grad_output_and_dy_needs_the_shape_of_y()
    {
        var (q, k, v, _, _, _) = Inputs();
        AssertFails("need --grad-output", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"), "--out-grad-k", _dir.File("dk.npy"));
        string dy = Save("dy.npy", Tensor.FromDoubles(DType.Float32, [2, 4, 3, 8], new double[192]));
        AssertFails("expected Y's shape [2, 4, 3, 6]", "attention", "--q", q, "--k", k, "--v", v, "--grad-output", dy, "--out", _dir.File("y.npy"));
    }

    /// <summary>Within one or two units in the last place of the element type (float64 runs on the reference: exact).</summary>
    private static void AssertNear(Tensor expected, Tensor actual)
    {
        double tolerance = expected.DType switch { DType.Float64 => 0, DType.Float32 => 1e-5, DType.Float16 => 2e-3, _ => 1.6e-2 };
        double[] e = expected.ToDoubleArray(), a = actual.ToDoubleArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
        {
            Assert.True(Math.Abs(e[i] - a[i]) <= tolerance * (1 + Math.Abs(e[i])), $"element {i}: expected {e[i]}, got {a[i]}");
        }
    }

    private void AssertFails(string expectedFragment, params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expectedFragment, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal); // no stack trace
        Assert.Equal("", stdout);
        Assert.False(File.Exists(_dir.File("y.npy")), "no output file may be left behind");
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public void Missing_file()
    {
        var (q, k, _, _, _, _) = Inputs();
        AssertFails("--v", "attention", "--q", q, "--k", k, "--v", _dir.File("nope.npy"), "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Not_a_npy_file()
    {
        var (q, k, _, _, _, _) = Inputs();
        string text = _dir.File("v.txt");
        File.WriteAllText(text, "hello, this is not numpy");
        AssertFails("--v: ", "attention", "--q", q, "--k", k, "--v", text, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Truncated_data()
    {
        var (q, k, v, _, _, _) = Inputs();
        byte[] bytes = File.ReadAllBytes(v);
        File.WriteAllBytes(v, bytes[..^7]);
        AssertFails("--v: ", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Unsupported_dtype()
    {
        var (q, k, _, _, _, _) = Inputs();
        string v = Save("vi.npy", Tensor.Create(new long[2 * 2 * 5 * 6], 2, 2, 5, 6));
        AssertFails("V has element type int64", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Unsupported_npy_descr()
    {
        var (q, k, _, _, _, _) = Inputs();
        // A NumPy int32 array: version 1.0 header padded to 64 bytes, 2 elements.
        string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
        header = header.PadRight(64 - 10 - 1) + "\n";
        byte[] preamble = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0];
        string v = _dir.File("int32.npy");
        File.WriteAllBytes(v, [.. preamble, .. System.Text.Encoding.ASCII.GetBytes(header), .. new byte[8]]);
        AssertFails("<i4", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Head_count_mismatch()
    {
        var (q, _, _, _, _, _) = Inputs();
        string k = Save("k3.npy", Tensor.FromDoubles(DType.Float32, [2, 3, 5, 8], new double[2 * 3 * 5 * 8]));
        string v = Save("v3.npy", Tensor.FromDoubles(DType.Float32, [2, 3, 5, 6], new double[2 * 3 * 5 * 6]));
        AssertFails("K has 3 heads but Q has 4", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Head_size_and_batch_mismatch()
    {
        var (q, _, v, _, _, _) = Inputs();
        string k = Save("kd.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 5, 7], new double[2 * 2 * 5 * 7]));
        AssertFails("has 7 on axis 3; expected 8 (the head size of Q)", "attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
        string kb = Save("kb.npy", Tensor.FromDoubles(DType.Float32, [1, 2, 5, 8], new double[2 * 5 * 8]));
        AssertFails("expected 2 (the batch size of Q)", "attention", "--q", q, "--k", kb, "--v", v, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Mask_not_broadcastable()
    {
        var (q, k, v, _, _, _) = Inputs();
        string mask = Save("m.npy", Tensor.Create(new bool[3 * 3 * 5], 3, 3, 5));
        AssertFails("attn_mask [3, 3, 5] has 3 on axis 0; expected 1 or 4 (H)", "attention", "--q", q, "--k", k, "--v", v, "--attn-mask", mask, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Head_counts_with_4d_input()
    {
        var (q, k, v, _, _, _) = Inputs();
        AssertFails("only for 3-D inputs", "attention", "--q", q, "--k", k, "--v", v, "--q-num-heads", "4", "--kv-num-heads", "2", "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Past_key_without_past_value()
    {
        var (q, k, v, _, _, _) = Inputs();
        string pk = Save("pk.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 1, 8], new double[32]));
        AssertFails("past_key is given without past_value", "attention", "--q", q, "--k", k, "--v", v, "--past-key", pk, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Nonpad_with_past_cache()
    {
        var (q, k, v, _, _, _) = Inputs();
        string pk = Save("pk.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 1, 8], new double[32]));
        string pv = Save("pv.npy", Tensor.FromDoubles(DType.Float32, [2, 2, 1, 6], new double[24]));
        string len = Save("len.npy", Tensor.Create(new long[] { 1, 1 }, 2));
        AssertFails("nonpad_kv_seqlen cannot be combined with past_key/past_value", "attention", "--q", q, "--k", k, "--v", v, "--past-key", pk, "--past-value", pv, "--nonpad-kv-seqlen", len, "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Window_below_minus_one()
    {
        var (q, k, v, _, _, _) = Inputs();
        AssertFails("left_window_size -3", "attention", "--q", q, "--k", k, "--v", v, "--left-window-size", "-3", "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Output_folder_missing()
    {
        var (q, k, v, _, _, _) = Inputs();
        string output = System.IO.Path.Combine(_dir.Path, "no-such-folder", "y.npy");
        AssertFails("does not exist", "attention", "--q", q, "--k", k, "--v", v, "--out", output);
    }

    [Fact]
    public void Bad_mode_and_precision()
    {
        var (q, k, v, _, _, _) = Inputs();
        AssertFails("--qk-matmul-output-mode 4", "attention", "--q", q, "--k", k, "--v", v, "--qk-matmul-output-mode", "4", "--out", _dir.File("y.npy"));
        AssertFails("float8", "attention", "--q", q, "--k", k, "--v", v, "--softmax-precision", "float8", "--out", _dir.File("y.npy"));
    }

    [Fact]
    public void Failed_run_keeps_an_existing_output_file()
    {
        var (q, k, _, _, _, _) = Inputs();
        string output = _dir.File("keep.npy");
        File.WriteAllText(output, "precious");
        var (code, _, _) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", _dir.File("missing.npy"), "--out", output);
        Assert.NotEqual(0, code);
        Assert.Equal("precious", File.ReadAllText(output));
    }

    [Fact]
    public void Nan_and_infinity_inputs_do_not_crash()
    {
        double[] data = Random(1, 2 * 4 * 3 * 8);
        data[0] = double.NaN;
        data[9] = double.PositiveInfinity;
        string q = Save("q.npy", Tensor.FromDoubles(DType.Float32, [2, 4, 3, 8], data));
        var (_, k, v, _, _, _) = Inputs();
        q = Save("q.npy", Tensor.FromDoubles(DType.Float32, [2, 4, 3, 8], data));
        var (code, _, stderr) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", v, "--out", _dir.File("y.npy"));
        Assert.True(code == 0, stderr);
        double[] y = Npy.Read(_dir.File("y.npy")).ToDoubleArray();
        Assert.True(double.IsNaN(y[0]));
        Assert.False(double.IsNaN(y[^1]));
    }

    [Fact]
    public void Help_explains_every_flag()
    {
        var (code, output, _) = CliRunner.Run("attention", "--help");
        Assert.Equal(0, code);
        foreach (string flag in new[] { "--q", "--k", "--v", "--attn-mask", "--past-key", "--past-value", "--nonpad-kv-seqlen", "--is-causal", "--scale", "--softcap", "--q-num-heads", "--kv-num-heads", "--left-window-size", "--right-window-size", "--qk-matmul-output-mode", "--softmax-precision", "--out", "--present-key", "--present-value", "--qk-matmul-output", "--reference" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_output_name_of_250_characters_is_written()
    {
        var (q, k, v, _, _, _) = Inputs(DType.Float32);
        string output = _dir.File(new string('y', 246) + ".npy");
        var (code, _, stderr) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", v, "--out", output);
        Assert.True(code == 0, stderr);
        Assert.Equal([2, 4, 3, 6], Npy.Read(output).Shape.ToArray());
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public void An_output_name_too_long_for_the_file_system_is_one_line_naming_it()
    {
        var (q, k, v, _, _, _) = Inputs(DType.Float32);
        string output = _dir.File(new string('y', 300) + ".npy");
        var (code, stdout, stderr) = CliRunner.Run("attention", "--q", q, "--k", k, "--v", v, "--out", output);
        Assert.Equal(2, code);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"heed: error: --out {output}: cannot write: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout);
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }
}
