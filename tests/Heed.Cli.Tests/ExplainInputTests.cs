using System.Text.Json;
using Heed.IO;

namespace Heed.Cli.Tests;

public sealed class ExplainInputTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SeedInput(string extra = "")
    {
        Npy.Write(_dir.File("wk.npy"), Tensor.FromDoubles(DType.Float64, [2, 2], [0, 1, 1, 0]));
        string path = _dir.File("in.json");
        File.WriteAllText(path, $$"""
            {
              "tokens": ["The", "cat", "sat", "on", "the", "mat"],
              "embeddings": [[1, 0], [0, 1], [1, 1], [0, -1], [1, 0], [0, 1]],
              "wq": [[1, 0], [0, 1]],
              "wk": "wk.npy",
              "wv": [[1, 1], [1, -1]]{{extra}}
            }
            """);
        return path;
    }

    [Fact]
    public void Input_file_with_focus_and_scale_reproduces_the_seed()
    {
        var (code, output, error) = CliRunner.Run("explain", "--input", SeedInput(", \"scale\": 1"), "--focus", "cat");
        Assert.True(code == 0, error);
        Assert.Contains("cat & sat  0.2437", output, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Flags_with_npy_and_json_matrices_and_default_scale()
    {
        Npy.Write(_dir.File("e.npy"), Tensor.FromDoubles(DType.Float32, [3, 2], [1, 0, 0, 1, 1, 1]));
        File.WriteAllText(_dir.File("w.json"), "[[1, 0], [0, 1]]");
        var (code, output, error) = CliRunner.Run("explain", "--tokens", "a,b,c", "--embeddings", _dir.File("e.npy"), "--wq", _dir.File("w.json"), "--wk", _dir.File("w.json"), "--wv", _dir.File("w.json"), "--focus", "c", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        double scale = 1 / Math.Sqrt(2);
        Assert.Equal(scale, doc.RootElement.GetProperty("scale").GetDouble(), 15);
        // c = [1, 1] scores [1, 1, 2]·scale → softmax
        double[] s = [scale, scale, 2 * scale];
        double z = s.Sum(Math.Exp);
        JsonElement row = doc.RootElement.GetProperty("weights")[2];
        for (int j = 0; j < 3; j++) Assert.Equal(Math.Exp(s[j]) / z, row[j].GetDouble(), 12);
        Assert.Equal("c", doc.RootElement.GetProperty("focus").GetString());
    }

    [Fact]
    public void Reference_replay_prints_the_largest_difference()
    {
        var (code, output, error) = CliRunner.Run("explain", "--input", SeedInput(), "--reference");
        Assert.True(code == 0, error);
        Assert.Contains("Reference replay (float64 reference vs the kernel run): max |difference| = ", output, StringComparison.Ordinal);
        var (jsonCode, json, _) = CliRunner.Run("explain", "--input", SeedInput(), "--reference", "--format", "json");
        Assert.Equal(0, jsonCode);
        using var doc = JsonDocument.Parse(json);
        Assert.True(doc.RootElement.GetProperty("referenceCheck").GetProperty("max").GetDouble() < 1e-12);
    }

    [Fact]
    public void Causal_input_prints_masked_scores()
    {
        var (code, output, error) = CliRunner.Run("explain", "--input", SeedInput(", \"causal\": true"), "--focus", "cat", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal("-Infinity", doc.RootElement.GetProperty("scores")[1][2].GetString());
        Assert.Equal(0, doc.RootElement.GetProperty("weights")[1][2].GetDouble());
    }

    [Fact]
    public void Out_writes_every_picture_and_the_report()
    {
        string folder = Path.Combine(_dir.Path, "pictures");
        var (code, output, error) = CliRunner.Run("explain", "--out", folder);
        Assert.True(code == 0, error);
        string[] expected = ["heatmap", "model-view", "head-view", "network", "rollout"];
        foreach (string name in expected)
        {
            Assert.True(File.Exists(Path.Combine(folder, name + ".svg")), name);
            Assert.Equal(0x89, File.ReadAllBytes(Path.Combine(folder, name + ".png"))[0]);
        }

        Assert.True(File.Exists(Path.Combine(folder, "report.html")));
        Assert.Equal(11, Directory.GetFiles(folder).Length);
        Assert.Contains("Wrote 11 files", output, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", output, StringComparison.Ordinal); // the walk-through is still printed
    }

    [Fact]
    public void Attention_weights_array_is_drawn_for_any_layer_and_head()
    {
        var rng = new Random(5);
        double[] p = new double[2 * 3 * 4 * 4];
        for (int r = 0; r < p.Length / 4; r++)
        {
            double[] e = Enumerable.Range(0, 4).Select(_ => Math.Exp(rng.NextDouble())).ToArray();
            for (int j = 0; j < 4; j++) p[(r * 4) + j] = e[j] / e.Sum();
        }

        Npy.Write(_dir.File("w.npy"), Tensor.FromDoubles(DType.Float32, [2, 3, 4, 4], p));
        string folder = Path.Combine(_dir.Path, "out");
        var (code, output, error) = CliRunner.Run("explain", "--attention-weights", _dir.File("w.npy"), "--tokens", "w,x,y,z", "--layer", "1", "--head", "2", "--focus", "y", "--out", folder);
        Assert.True(code == 0, error);
        Assert.Contains("2 layer(s) x 3 head(s)", output, StringComparison.Ordinal);
        Assert.Contains($"y & w  {(float)p[(((1 * 3) + 2) * 16) + 8]:0.0000}", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(folder, "model-view.png")));
    }

    [Fact]
    public void Terminal_view_of_explain_and_show()
    {
        var (code, output, error) = CliRunner.Run("explain", "--view", "terminal", "--width", "100");
        Assert.True(code == 0, error);
        Assert.Contains("cat 0.24 0.09 0.24 0.09 0.24 0.09", output, StringComparison.Ordinal);
        var (showCode, show, showError) = CliRunner.Run("show", "--focus", "sat", "--width", "100");
        Assert.True(showCode == 0, showError);
        Assert.Contains("output sat = [", show, StringComparison.Ordinal);
        Assert.Contains("sat 0.15 0.15 0.40 0.02 0.15 0.15", show, StringComparison.Ordinal);
    }

    private void AssertFails(string expectedFragment, params string[] args)
    {
        string[] before = Directory.GetFileSystemEntries(_dir.Path);
        var (code, stdout, stderr) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(expectedFragment, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
        Assert.Equal(before.Order(), Directory.GetFileSystemEntries(_dir.Path).Order()); // nothing half-written
    }

    [Fact]
    public void Unknown_focus_word() =>
        AssertFails("--focus \"dog\" is not one of the tokens (The, cat, sat, on, the, mat)", "explain", "--focus", "dog", "--out", Path.Combine(_dir.Path, "o"));

    [Fact]
    public void Layer_and_head_out_of_range()
    {
        AssertFails("--layer 3 is out of range: there is 1 layer (0)", "explain", "--layer", "3", "--out", Path.Combine(_dir.Path, "o"));
        AssertFails("--head 1 is out of range: there is 1 head (0)", "show", "--head", "1");
    }

    [Fact]
    public void Mismatched_embedding_and_matrix_sizes()
    {
        string input = SeedInput();
        File.WriteAllText(_dir.File("w3.json"), "[[1, 0], [0, 1], [1, 1]]");
        AssertFails("W_Q has 3 rows; expected 2 (the embedding width)", "explain", "--input", input, "--wq", _dir.File("w3.json"), "--out", Path.Combine(_dir.Path, "o"));
        AssertFails("there are 2 tokens but 6 embedding rows", "explain", "--input", input, "--tokens", "a,b");
    }

    [Fact]
    public void Missing_matrix_flag()
    {
        File.WriteAllText(_dir.File("m.json"), "[[1, 0]]");
        AssertFails("--wk is missing", "explain", "--tokens", "a", "--embeddings", _dir.File("m.json"), "--wq", _dir.File("m.json"), "--wv", _dir.File("m.json"));
    }

    [Fact]
    public void Output_folder_that_cannot_be_written()
    {
        File.WriteAllText(_dir.File("file"), "x");
        AssertFails("--out " + _dir.File("file") + ": is a file", "explain", "--out", _dir.File("file"));
        AssertFails("does not exist", "explain", "--out", Path.Combine(_dir.Path, "a", "b"));
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void Npy_matrices_with_values_that_are_not_finite_are_refused_at_their_position(double value, string shown)
    {
        Npy.Write(_dir.File("e.npy"), Tensor.FromDoubles(DType.Float32, [2, 2], [1, 0, value, 1]));
        File.WriteAllText(_dir.File("m.json"), "[[1, 0], [0, 1]]");
        AssertFails($"--embeddings: e.npy[1][0]: {shown}; expected a finite number", "explain", "--tokens", "a,b", "--embeddings", _dir.File("e.npy"), "--wq", _dir.File("m.json"), "--wk", _dir.File("m.json"), "--wv", _dir.File("m.json"));
    }

    [Fact]
    public void Attention_weights_that_do_not_fit_the_tokens()
    {
        Npy.Write(_dir.File("w.npy"), Tensor.FromDoubles(DType.Float32, [3, 3], new double[9]));
        AssertFails("has 3 rows on axis 0; expected 2 (one per token)", "explain", "--attention-weights", _dir.File("w.npy"), "--tokens", "a,b");
    }

    [Fact]
    public void A_number_beyond_float64_in_the_embeddings_is_refused_where_it_stands()
    {
        string path = _dir.File("in.json");
        File.WriteAllText(path, """{"tokens": ["a", "b"], "embeddings": [[1, 0], [1e400, 1]], "wq": [[1], [0]], "wk": [[1], [0]], "wv": [[1], [0]]}""");
        var (code, stdout, stderr) = CliRunner.Run("explain", "--input", path);
        Assert.Equal(2, code);
        Assert.Equal($"heed: error: {path}: \"embeddings\"[1][0]: a number outside the float64 range\n", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void A_number_beyond_float64_in_scale_blames_the_field_not_the_flag()
    {
        string path = SeedInput(", \"scale\": -1e400");
        var (code, stdout, stderr) = CliRunner.Run("explain", "--input", path);
        Assert.Equal(2, code);
        Assert.Equal($"heed: error: {path}: \"scale\": a number outside the float64 range\n", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void An_infinite_scale_flag_blames_the_flag()
    {
        var (code, _, stderr) = CliRunner.Run("explain", "--input", SeedInput(), "--scale", "1e400");
        Assert.Equal(2, code);
        Assert.Equal("heed: error: --scale Infinity must be a finite number\n", stderr);
    }

    [Fact]
    public void A_number_beyond_float64_in_a_json_matrix_names_the_file_and_position()
    {
        File.WriteAllText(_dir.File("e.json"), "[[1, 0], [0, 1], [2, 1e999]]");
        File.WriteAllText(_dir.File("w.json"), "[[1, 0], [0, 1]]");
        var (code, _, stderr) = CliRunner.Run("explain", "--tokens", "a,b,c", "--embeddings", _dir.File("e.json"), "--wq", _dir.File("w.json"), "--wk", _dir.File("w.json"), "--wv", _dir.File("w.json"));
        Assert.Equal(2, code);
        Assert.Equal("heed: error: --embeddings: e.json[2][1]: a number outside the float64 range\n", stderr);
    }

    [Fact]
    public void Pictures_go_into_a_folder_whose_name_is_long()
    {
        string folder = Path.Combine(_dir.Path, new string('p', 240));
        var (code, _, error) = CliRunner.Run("explain", "--out", folder);
        Assert.True(code == 0, error);
        Assert.Equal(11, Directory.GetFiles(folder).Length);
    }
}
