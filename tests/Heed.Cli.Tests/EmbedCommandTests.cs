using System.Text.Json;
using Heed.IO;

namespace Heed.Cli.Tests;

/// <summary>
/// <c>heed embed</c> on a tiny random BERT written as a Hugging Face folder. (Parity of the numbers with ONNX Runtime on the real
/// all-MiniLM-L6-v2 is in Heed.Models.OnnxTests; here the command's output is checked against its own hidden states.)
/// </summary>
public sealed class EmbedCommandTests : IDisposable
{
    private readonly TempFolder _folder = new("heed-embed-");

    public EmbedCommandTests() => TinyEncoder.Write(_folder.Path);

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Json_holds_the_tokens_and_unit_vectors_that_are_the_mean_of_the_hidden_states()
    {
        var (code, output, error) = CliRunner.Run("embed", "--model", _folder.Path, "the cat sat", "the mats");
        Assert.True(code == 0, error);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal(["model", "dimensions", "pooling", "normalized", "tokens", "embeddings"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal((_folder.Path, 8, "mean", true), (root.GetProperty("model").GetString(), root.GetProperty("dimensions").GetInt32(), root.GetProperty("pooling").GetString(), root.GetProperty("normalized").GetBoolean()));
        Assert.Equal(["[CLS]", "the", "mat", "##s", "[SEP]"], root.GetProperty("tokens")[1].EnumerateArray().Select(t => t.GetString()));

        var (_, hiddenJson, _) = CliRunner.Run("embed", "--model", _folder.Path, "--pooling", "none", "the cat sat", "the mats");
        using JsonDocument hidden = JsonDocument.Parse(hiddenJson);
        Assert.False(hidden.RootElement.GetProperty("normalized").GetBoolean());
        for (int s = 0; s < 2; s++)
        {
            double[][] rows = [.. hidden.RootElement.GetProperty("hidden_states")[s].EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
            double[] mean = [.. Enumerable.Range(0, 8).Select(i => rows.Average(r => r[i]))];
            double norm = Math.Sqrt(mean.Sum(m => m * m));
            double[] embedding = [.. root.GetProperty("embeddings")[s].EnumerateArray().Select(v => v.GetDouble())];
            for (int i = 0; i < 8; i++) Assert.Equal(mean[i] / norm, embedding[i], 5);
        }
    }

    [Fact]
    public void Cls_pooling_without_normalization_is_the_first_hidden_state()
    {
        var (_, cls, _) = CliRunner.Run("embed", "--model", _folder.Path, "--pooling", "cls", "--no-normalize", "the cat");
        var (_, none, _) = CliRunner.Run("embed", "--model", _folder.Path, "--pooling", "none", "the cat");
        using JsonDocument a = JsonDocument.Parse(cls), b = JsonDocument.Parse(none);
        Assert.Equal(
            b.RootElement.GetProperty("hidden_states")[0][0].EnumerateArray().Select(v => v.GetSingle()),
            a.RootElement.GetProperty("embeddings")[0].EnumerateArray().Select(v => v.GetSingle()));
        Assert.False(a.RootElement.GetProperty("normalized").GetBoolean());
    }

    [Fact]
    public void Npy_and_input_files_give_the_same_vectors_as_json()
    {
        string input = Path.Combine(_folder.Path, "texts.txt");
        File.WriteAllLines(input, ["the cat sat", "", "on the mat ."]);
        string npy = Path.Combine(_folder.Path, "e.npy");
        var (code, _, error) = CliRunner.Run("embed", "--model", _folder.Path, "--input", input, "--format", "npy", "--out", npy);
        Assert.True(code == 0, error);
        var tensor = (Tensor<float>)Npy.Read(npy);
        Assert.Equal([2, 8], tensor.Shape.ToArray());

        var (_, json, _) = CliRunner.Run("embed", "--model", _folder.Path, "the cat sat", "on the mat .");
        using JsonDocument doc = JsonDocument.Parse(json);
        float[] fromJson = [.. doc.RootElement.GetProperty("embeddings").EnumerateArray().SelectMany(e => e.EnumerateArray().Select(v => v.GetSingle()))];
        Assert.Equal(fromJson, tensor.Data);
    }

    [Theory]
    [InlineData("heed: error: --format npy writes binary: give --out FILE", "--format", "npy", "x")]
    [InlineData("heed: error: --pooling max: expected one of mean, cls, none", "--pooling", "max", "x")]
    [InlineData("heed: error: --batch-size 0: expected at least 1", "--batch-size", "0", "x")]
    [InlineData("heed: error: --input nowhere.txt: no such file", "--input", "nowhere.txt")]
    [InlineData("heed: error: give texts as arguments or with --input, not both", "--input", "nowhere.txt", "x")]
    public void Bad_input_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        var (code, output, error) = CliRunner.Run(["embed", "--model", _folder.Path, .. args]);
        Assert.Equal((2, "", expected), (code, output, error.TrimEnd('\n')));
    }

    [Fact]
    public void A_folder_that_is_no_encoder_is_refused_in_one_line()
    {
        using var empty = new TempFolder();
        var (code, _, error) = CliRunner.Run("embed", "--model", empty.Path, "x");
        Assert.Equal(2, code);
        Assert.Equal($"heed: error: model {empty.Path}: no model.safetensors, model.safetensors.index.json or model.onnx\n", error);
    }
}

/// <summary><c>heed explain --model</c> on an encoder: bidirectional weights, the trace of one head, the reference replay.</summary>
public sealed class EncoderExplainTests : IDisposable
{
    private readonly TempFolder _folder = new("heed-encoder-explain-");

    public EncoderExplainTests() => TinyEncoder.Write(_folder.Path);

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Every_token_sees_every_token_and_the_weights_are_the_softmax_of_the_traced_scores()
    {
        var (code, output, error) = CliRunner.Run("explain", "--model", _folder.Path, "--prompt", "the cat sat", "--layer", "1", "--head", "1", "--focus", "#1", "--reference", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        System.Text.Json.JsonElement root = doc.RootElement;
        Assert.Equal("bert", root.GetProperty("architecture").GetString());
        Assert.Equal(["[CLS]", "the", "cat", "sat", "[SEP]"], root.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
        double[][] q = Matrix(root.GetProperty("q")), k = Matrix(root.GetProperty("k")), weights = Matrix(root.GetProperty("weights"));
        double scale = root.GetProperty("scale").GetDouble();
        Assert.Equal(1 / Math.Sqrt(4), scale, 12);
        for (int i = 0; i < 5; i++)
        {
            // softmax over all five keys, later ones included: no causal mask
            double[] scores = [.. k.Select(kj => q[i].Zip(kj, (a, b) => a * b).Sum() * scale)];
            double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
            for (int j = 0; j < 5; j++)
            {
                Assert.Equal(Math.Exp(scores[j] - max) / sum, weights[i][j], 9);
                Assert.True(weights[i][j] > 0, $"{i} -> {j}");
            }
        }

        Assert.True(root.GetProperty("referenceCheck").GetProperty("allWeights").GetDouble() < 1e-5);
    }

    [Fact]
    public void Lookup_on_an_encoder_uses_each_words_sentence_embedding()
    {
        var (code, output, error) = CliRunner.Run("lookup", "--model", _folder.Path, "--query", "cat", "--keys", "mat,sat", "--values", "1,2", "--format", "json");
        Assert.True(code == 0, error);
        using var lookup = System.Text.Json.JsonDocument.Parse(output);
        var (_, embedded, _) = CliRunner.Run("embed", "--model", _folder.Path, "cat", "mat");
        using var embeddings = System.Text.Json.JsonDocument.Parse(embedded);
        double[] cat = [.. embeddings.RootElement.GetProperty("embeddings")[0].EnumerateArray().Select(v => v.GetDouble())];
        double[] mat = [.. embeddings.RootElement.GetProperty("embeddings")[1].EnumerateArray().Select(v => v.GetDouble())];
        double[] query = [.. lookup.RootElement.GetProperty("queryVector").EnumerateArray().Select(v => v.GetDouble())];
        for (int i = 0; i < 8; i++) Assert.Equal(cat[i], query[i], 6);
        Assert.Equal(cat.Zip(mat, (a, b) => a * b).Sum(), lookup.RootElement.GetProperty("scores")[0].GetDouble(), 6);
    }

    private static double[][] Matrix(System.Text.Json.JsonElement e) => [.. e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
}
