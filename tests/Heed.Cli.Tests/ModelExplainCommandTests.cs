using System.Text.Json;
using Heed.Models;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Cli.Tests;

/// <summary>
/// heed explain, show and lookup on a real model: stories260K from ../shared (HEED_SHARED overrides; skipped with the
/// reason when absent). Values are checked against float64 recomputations from the printed Q, K and V, and against the
/// model's embedding table read directly.
/// </summary>
public sealed class ModelExplainCommandTests : IDisposable
{
    private const string Prompt = "Once upon a time, there was a little cat. The cat liked to play with a red ball.";

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string ModelFile = "models/stories260K/stories260K.bin";

    private const string TokFile = "models/stories260K/tok512.bin";

    private static string Model => TestPaths.Shared(ModelFile);

    private static string Tok => TestPaths.Shared(TokFile);

    [SharedFact(ModelFile, TokFile)]
    public void Text_walks_through_the_focus_token_of_one_head()
    {
        var (code, output, error) = CliRunner.Run("explain", "--model", Model, "--prompt", Prompt, "--layer", "2", "--head", "3", "--focus", "cat");
        Assert.True(code == 0, error);
        Assert.Equal("", error);
        Assert.Contains("Layer 2, head 3 (reads key/value head 1), llama", output, StringComparison.Ordinal);
        Assert.Contains("the focus is \"at\" at position 11", output, StringComparison.Ordinal); // "▁c" + "at": the word's last piece
        Assert.Contains("Q = RoPE(RMSNorm(x) W_q)", output, StringComparison.Ordinal);
        Assert.Contains("Step 3. Scores of \"at\": Q_at . K_j times the scale 1/sqrt(8) = 0.3536", output, StringComparison.Ordinal);
        Assert.Contains("output at = [", output, StringComparison.Ordinal);
        Assert.Contains("at & \u2581c", output, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile, TokFile)]
    public void Json_trace_weights_are_softmax_of_the_printed_queries_and_keys()
    {
        var (code, output, error) = CliRunner.Run("explain", "--model", Model, "--tokenizer", Tok, "--prompt", Prompt, "--layer", "4", "--head", "6", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal(("llama", 5, 8, 4, 8, 3), (root.GetProperty("architecture").GetString(), root.GetProperty("layers").GetInt32(), root.GetProperty("heads").GetInt32(),
            root.GetProperty("kvHeads").GetInt32(), root.GetProperty("headSize").GetInt32(), root.GetProperty("kvHead").GetInt32()));
        string[] tokens = [.. root.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        Assert.Equal("<s>", tokens[0]);
        int focus = root.GetProperty("focusPosition").GetInt32();
        Assert.Equal(tokens.Length - 1, focus); // the default focus is the last token: it sees the whole prompt
        double[][] Matrix(string name) => [.. root.GetProperty(name).EnumerateArray().Select(r => r.EnumerateArray().Select(Number).ToArray())];
        double[][] q = Matrix("q"), k = Matrix("k"), v = Matrix("v"), weights = Matrix("weights");
        double scale = root.GetProperty("scale").GetDouble();
        Assert.Equal(1 / Math.Sqrt(8), scale, 15);
        for (int i = 0; i < tokens.Length; i++)
        {
            double[] scores = [.. Enumerable.Range(0, i + 1).Select(j => q[i].Zip(k[j], (a, b) => a * b).Sum() * scale)];
            double max = scores.Max(), sum = scores.Sum(x => Math.Exp(x - max));
            for (int j = 0; j < tokens.Length; j++)
            {
                double expected = j <= i ? Math.Exp(scores[j] - max) / sum : 0;
                Assert.True(Math.Abs(expected - weights[i][j]) < 1e-12, $"weight [{i},{j}]: {expected} vs {weights[i][j]}");
            }
        }

        double[] output0 = [.. root.GetProperty("focusOutput").EnumerateArray().Select(Number)];
        for (int e = 0; e < output0.Length; e++)
        {
            Assert.Equal(Enumerable.Range(0, tokens.Length).Sum(j => weights[focus][j] * v[j][e]), output0[e], 12);
        }

        Assert.Equal("-Infinity", root.GetProperty("scores")[0][1].GetString());
    }

    [SharedFact(ModelFile, TokFile)]
    public void Reference_replays_the_model_run_and_prints_the_differences()
    {
        var (code, output, error) = CliRunner.Run("explain", "--model", Model, "--prompt", Prompt, "--reference", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement check = doc.RootElement.GetProperty("referenceCheck");
        foreach (string step in new[] { "q", "k", "v", "scores", "weights", "outputs", "max", "allWeights" })
        {
            double d = check.GetProperty(step).GetDouble();
            Assert.True(d is >= 0 and < 1e-4, $"{step}: {d}");
        }

        Assert.True(check.GetProperty("logits").GetDouble() < 1e-3);
        var (textCode, text, _) = CliRunner.Run("explain", "--model", Model, "--prompt", Prompt, "--reference");
        Assert.Equal(0, textCode);
        Assert.Contains("Reference replay (float64 reference vs the kernel run): max |difference| = ", text, StringComparison.Ordinal);
        Assert.Contains("Over the whole model: max |difference| of the weights of every layer and head = ", text, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile, TokFile)]
    public void Out_with_all_layers_writes_every_layers_pictures_and_the_report()
    {
        string folder = Path.Combine(_dir.Path, "pictures");
        var (code, output, error) = CliRunner.Run("explain", "--model", Model, "--prompt", Prompt, "--out", folder, "--all-layers", "--head", "1");
        Assert.True(code == 0, error);
        string[] stems = ["model-view", "rollout", .. Enumerable.Range(0, 5).SelectMany(l => new[] { $"heatmap-layer{l}", $"head-view-layer{l}", $"network-layer{l}" })];
        string[] expected = [.. stems.SelectMany(s => new[] { s + ".svg", s + ".png" }).Append("report.html").Order(StringComparer.Ordinal)];
        Assert.Equal(expected, Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("Wrote 35 files to", output, StringComparison.Ordinal);
        string html = File.ReadAllText(Path.Combine(folder, "report.html"));
        Assert.Contains("Step 1. The tokens", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        byte[] png = File.ReadAllBytes(Path.Combine(folder, "heatmap-layer3.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Take(4));
    }

    [SharedFact(ModelFile, TokFile)]
    public void Show_draws_a_model_head_in_the_terminal()
    {
        var (code, output, error) = CliRunner.Run("show", "--model", Model, "--prompt", "Once upon a time", "--layer", "1", "--head", "2", "--width", "120");
        Assert.True(code == 0, error);
        Assert.Contains("Layer 1, head 2: rows are query tokens", output, StringComparison.Ordinal);
        Assert.Contains("Layer 1, head 2: \"\u2581time\" attends to the tokens it can see", output, StringComparison.Ordinal);
        Assert.Contains("output \u2581time = [", output, StringComparison.Ordinal);
    }

    [SharedTheory(ModelFile, TokFile)]
    [InlineData("--layer 5 is out of range: there are 5 layers (0..4)", "--layer", "5")]
    [InlineData("--layer -1 is out of range: there are 5 layers (0..4)", "--layer", "-1")]
    [InlineData("--head 8 is out of range: there are 8 heads per layer (0..7)", "--head", "8")]
    [InlineData("--focus \"dog\" is not one of the tokens (<s>, \u2581Once, \u2581upon", "--focus", "dog")]
    [InlineData("tokens but the model's context is 512; shorten the prompt", "--prompt", "LONG")]
    [InlineData("--embeddings cannot be combined with --model", "--embeddings", "e.npy")]
    [InlineData("--scaled applies to the seed example", "--scaled")]
    [InlineData("the tokenizer has 50257 tokens but the model's vocabulary has 512", "--tokenizer", "GPT2")]
    public void Bad_model_input_is_one_line_and_writes_nothing(string expected, params string[] args)
    {
        string folder = Path.Combine(_dir.Path, "out");
        string[] resolved = [.. args.Select(a => a switch
        {
            "LONG" => string.Concat(Enumerable.Repeat(" a", 600)),
            "GPT2" => TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf"),
            _ => a,
        })];
        string[] command = ["explain", "--model", Model, "--out", folder, .. resolved];
        if (!resolved.Contains("--prompt")) command = [.. command, "--prompt", Prompt];
        var (code, stdout, stderr) = CliRunner.Run(command);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(folder), "nothing may be written");
    }

    [Fact]
    public void Missing_model_is_one_line_and_writes_nothing()
    {
        string folder = Path.Combine(_dir.Path, "out");
        var (code, stdout, stderr) = CliRunner.Run("explain", "--model", "/no/such/model.bin", "--prompt", "hi", "--out", folder);
        Assert.Equal(2, code);
        Assert.Equal("heed: error: model /no/such/model.bin: no such file or folder\n", stderr.ReplaceLineEndings("\n"));
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void Prompt_without_a_model_is_refused()
    {
        var (code, stdout, stderr) = CliRunner.Run("explain", "--prompt", "hello");
        Assert.Equal(2, code);
        Assert.Equal("heed: error: --prompt needs --model PATH (a llama2.c checkpoint, a GPT-2 folder or a BERT-family encoder)\n", stderr.ReplaceLineEndings("\n"));
        Assert.Equal("", stdout);
    }

    [SharedFact(ModelFile, TokFile)]
    public void Lookup_takes_word_vectors_from_the_model_embeddings()
    {
        var (code, output, error) = CliRunner.Run("lookup", "--model", Model, "--query", "cat", "--keys", "dog,mom,ball", "--values", "1,2,3", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        LlamaModel model = LlamaModel.Load(Model);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(Tok);
        int dim = model.Config.Dim;

        // Independently: each word's pieces as the tokenizer encodes it, their embedding rows averaged in float64.
        double[] Vector(string word)
        {
            int[] ids = [.. tokenizer.Encode(word, addBos: false, addEos: false).Where(id => tokenizer.PieceText(id).Trim().Length > 0)];
            float[] table = model.Weights.TokenEmbedding.ToFloats();
            return [.. Enumerable.Range(0, dim).Select(c => ids.Average(id => (double)table[(id * dim) + c]))];
        }

        double[] q = Vector("cat");
        double[] scores = [.. new[] { "dog", "mom", "ball" }.Select(w => Vector(w).Zip(q, (a, b) => a * b).Sum())];
        double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
        double blended = scores.Select((s, i) => Math.Exp(s - max) / sum * (i + 1)).Sum();
        Assert.Equal(blended, root.GetProperty("blended").GetDouble(), 6);
        for (int i = 0; i < 3; i++) Assert.Equal(scores[i], root.GetProperty("scores")[i].GetDouble(), 6);
        Assert.Equal(["\u2581c", "at"], root.GetProperty("pieces").GetProperty("cat").EnumerateArray().Select(p => p.GetString()));

        var (textCode, text, _) = CliRunner.Run("lookup", "--model", Model, "--query", "cat", "--keys", "dog,mom", "--values", "1,2");
        Assert.Equal(0, textCode);
        Assert.Contains("Word vectors: the token embeddings of stories260K.bin, 64 numbers each (the first 12 shown", text, StringComparison.Ordinal);
        Assert.Contains("cat  = \"\u2581c\" (", text, StringComparison.Ordinal);
        Assert.Contains(", mean of 2", text, StringComparison.Ordinal);
    }

    [SharedTheory(ModelFile, TokFile)]
    [InlineData("--vectors and --model both give word vectors", "--vectors", "v.json")]
    [InlineData("--query: an empty word has no tokens", "--query", "  ")]
    public void Lookup_bad_model_input_is_one_line(string expected, params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(["lookup", "--model", Model, .. args]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
    }

    [Fact]
    public void Lookup_tokenizer_without_a_model_is_refused()
    {
        var (code, _, stderr) = CliRunner.Run("lookup", "--tokenizer", "tok.bin");
        Assert.Equal(2, code);
        Assert.Contains("--tokenizer needs --model PATH", stderr, StringComparison.Ordinal);
    }

    // Masked scores are written as "-Infinity".
    private static double Number(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture) : e.GetDouble();
}
