using System.Text.Json.Nodes;
using Heed.IO;
using Heed.Server.Services;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server.Tests;

/// <summary>
/// Runs of a Hugging Face GPT-2 folder: the tiny random GPT-2 of tests/TestData/gpt2-tiny with a small byte-level BPE
/// vocabulary written here, checked against an independent float64 computation of layer 0's attention.
/// </summary>
public sealed class Gpt2RunTests : IAsyncLifetime
{
    private const string Prompt = "the cat sat on the mat";

    // Byte-level BPE: 'Ġ' is the space byte. Merges make whole words of the prompt; single characters fill the
    // vocabulary up to the model's 60 ids.
    private static readonly string[] Vocabulary =
    [
        "<|endoftext|>", "t", "h", "e", "Ġ", "c", "a", "s", "o", "n", "m",
        "he", "the", "Ġthe", "at", "Ġc", "Ġcat", "Ġs", "Ġsat", "Ġo", "Ġon", "Ġm", "Ġmat",
        .. "bdfgijklpqruvwxyz0123456789ABCDEFGHIJ".Select(c => c.ToString()),
    ];

    private static readonly string[] Merges = ["h e", "t he", "Ġ the", "a t", "Ġ c", "Ġc at", "Ġ s", "Ġs at", "Ġ o", "Ġo n", "Ġ m", "Ġm at"];

    private ServerHarness _h = null!;
    private string _models = null!;

    private string Folder => Path.Combine(_models, "gpt2-tiny");

    public async Task InitializeAsync()
    {
        _models = ServerHarness.NewFolder();
        Directory.CreateDirectory(Folder);
        string data = TestPaths.TestData("gpt2-tiny");
        File.Copy(Path.Combine(data, "config.json"), Path.Combine(Folder, "config.json"));
        File.Copy(Path.Combine(data, "model.safetensors"), Path.Combine(Folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(Folder, "vocab.json"), "{" + string.Join(", ", Vocabulary.Select((t, i) => $"\"{t}\": {i}")) + "}");
        File.WriteAllText(Path.Combine(Folder, "merges.txt"), "#version: 0.2\n" + string.Join('\n', Merges) + "\n");
        _h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _models });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        Directory.Delete(_models, true);
    }

    /// <summary>Layer 0 of GPT-2 in float64, straight from the safetensors file: softmax(q·kᵀ/√D + causal) per head.</summary>
    private double[][][] Layer0Weights(int[] ids)
    {
        IReadOnlyDictionary<string, Tensor> w = Safetensors.Read(Path.Combine(Folder, "model.safetensors"));
        double[] F(string name) => w[name].ToDoubleArray();
        const int C = 24, H = 3, D = C / H;
        double[] wte = F("wte.weight"), wpe = F("wpe.weight"), g = F("h.0.ln_1.weight"), b = F("h.0.ln_1.bias");
        double[] cAttn = F("h.0.attn.c_attn.weight"), cBias = F("h.0.attn.c_attn.bias"); // Conv1D: [C, 3C]
        int t = ids.Length;
        var qkv = new double[t][];
        for (int i = 0; i < t; i++)
        {
            double[] x = Enumerable.Range(0, C).Select(c => wte[(ids[i] * C) + c] + wpe[(i * C) + c]).ToArray();
            double mean = x.Average(), variance = x.Select(v => (v - mean) * (v - mean)).Average();
            double[] a = x.Select((v, c) => ((v - mean) / Math.Sqrt(variance + 1e-5) * g[c]) + b[c]).ToArray();
            qkv[i] = Enumerable.Range(0, 3 * C).Select(o => cBias[o] + Enumerable.Range(0, C).Sum(c => a[c] * cAttn[(c * 3 * C) + o])).ToArray();
        }

        var weights = new double[H][][];
        for (int h = 0; h < H; h++)
        {
            weights[h] = new double[t][];
            for (int i = 0; i < t; i++)
            {
                double[] s = Enumerable.Range(0, i + 1).Select(j => Enumerable.Range(0, D).Sum(d => qkv[i][(h * D) + d] * qkv[j][C + (h * D) + d]) / Math.Sqrt(D)).ToArray();
                double max = s.Max(), sum = s.Sum(v => Math.Exp(v - max));
                weights[h][i] = Enumerable.Range(0, t).Select(j => j <= i ? Math.Exp(s[j] - max) / sum : 0).ToArray();
            }
        }

        return weights;
    }

    private async Task<JsonNode> RunToEnd(string prompt)
    {
        JsonNode report = await _h.PostJson("/api/v1/runs", new { model = "gpt2-tiny", prompt, wait = true });
        Assert.Equal("Succeeded", report["status"]!["state"]!.GetValue<string>());
        return report;
    }

    [Fact]
    public async Task A_gpt2_folder_is_runnable_and_its_layer_0_weights_match_an_independent_computation()
    {
        JsonNode info = await _h.GetJson("/api/v1/models/gpt2-tiny");
        Assert.Equal("gpt2-safetensors", info["format"]!.GetValue<string>());
        Assert.True(info["runnable"]!.GetValue<bool>());

        JsonNode report = await RunToEnd(Prompt);
        JsonNode status = report["status"]!;
        Assert.Equal(["the", "Ġcat", "Ġsat", "Ġon", "Ġthe", "Ġmat"], status["tokens"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal([3, 3], status["numHeads"]!.AsArray().Select(n => n!.GetValue<int>()));
        string id = status["id"]!.GetValue<string>();
        double[][][] expected = Layer0Weights([12, 16, 18, 20, 13, 22]);
        for (int h = 0; h < 3; h++)
        {
            double[][] got = ServerHarness.Matrix((await _h.GetJson($"/api/v1/runs/{id}/layers/0/heads/{h}"))["weights"]);
            for (int i = 0; i < 6; i++)
            {
                for (int j = 0; j < 6; j++) Assert.True(Math.Abs(expected[h][i][j] - got[i][j]) < 1e-5, $"head {h} [{i}, {j}]: {got[i][j]} vs {expected[h][i][j]}");
            }
        }

        // Layer 1 is causal and normalised too; the walk-through follows the last token, as 'heed explain --model' does.
        double[][] last = ServerHarness.Matrix((await _h.GetJson($"/api/v1/runs/{id}/layers/1/heads/2"))["weights"]);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(1.0, last[i].Sum(), 9);
            for (int j = i + 1; j < 6; j++) Assert.Equal(0.0, last[i][j]);
        }

        Assert.Equal("Ġmat", report["explanation"]!["focus"]!.GetValue<string>());
        Assert.Contains("Q, K, V = LayerNorm(x) c_attn + bias", report["explanation"]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
        PictureChecks.AssertPng(await _h.Client.GetByteArrayAsync(new Uri($"/api/v1/runs/{id}/pictures/model-view.png", UriKind.Relative)));
    }

    [Fact]
    public async Task The_model_is_loaded_once_per_id_until_its_files_change()
    {
        ModelCache cache = _h.Server.Services.GetRequiredService<ModelCatalog>().Cache;
        await RunToEnd(Prompt);
        await RunToEnd("the mat");
        Assert.Equal(1, cache.Loads); // checked at create and run twice, loaded once
        File.SetLastWriteTimeUtc(Path.Combine(Folder, "model.safetensors"), DateTime.UtcNow.AddMinutes(1));
        await RunToEnd("the cat");
        Assert.Equal(2, cache.Loads);
    }

    [Fact]
    public void A_run_cancelled_after_layer_0_stops_inside_the_forward_pass()
    {
        var runner = new TransformerRunner("gpt2-safetensors", new ModelCatalog(_models), new ServerLimits());
        using var cancel = new CancellationTokenSource();
        var seen = new List<string>();
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run("gpt2-tiny", Prompt, (_, _, m) =>
        {
            seen.Add(m);
            if (m.StartsWith("layer 0:", StringComparison.Ordinal)) cancel.Cancel();
        }, cancel.Token));

        // Loaded, then layer 0's attention; the check before layer 1 stopped the pass.
        Assert.Equal(2, seen.Count);
        Assert.StartsWith("loaded gpt2: 2 layers", seen[0], StringComparison.Ordinal);
        Assert.StartsWith("layer 0:", seen[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_cancelled_mid_forward_turns_cancelled_with_no_later_layer_computed()
    {
        RunService? service = null;
        var inner = new TransformerRunner("gpt2-safetensors", new ModelCatalog(_models), new ServerLimits());
        var runner = new CancellingRunner(inner, "layer 0:", () => service!.Cancel(service.List()[0].Id));
        using var runs = new RunService(new ModelCatalog(_models), [runner], new ServerLimits(), TimeProvider.System);
        service = runs;
        RunStatus created = runs.Create(new RunRequest { Model = "gpt2-tiny", Prompt = Prompt });
        var events = new List<RunEvent>();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        RunStatus final = await runs.WaitAsync(created.Id, events.Add, limit.Token);
        Assert.Equal(RunState.Cancelled, final.State);
        Assert.Contains(events, e => e.Message.StartsWith("layer 0:", StringComparison.Ordinal));
        Assert.DoesNotContain(events, e => e.Message.StartsWith("layer 1:", StringComparison.Ordinal));
        Assert.Equal("cancelled", events[^1].Message);
        await Assert.ThrowsAsync<HeedConflictException>(() => Task.Run(() => runs.Report(created.Id)));
    }

    /// <summary>Passes a run on to another runner and calls <c>cancel</c> when a progress message starts with <c>trigger</c>.</summary>
    private sealed class CancellingRunner(IModelRunner inner, string trigger, Action cancel) : IModelRunner
    {
        public string Format => inner.Format;

        public void Check(string modelId, string prompt) => inner.Check(modelId, prompt);

        public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation) =>
            inner.Run(modelId, prompt, (done, total, message) =>
            {
                progress(done, total, message);
                if (message.StartsWith(trigger, StringComparison.Ordinal)) cancel();
            }, cancellation);
    }

    [Fact]
    public async Task Explain_runs_a_model_on_a_prompt_as_heed_explain_model_does()
    {
        JsonNode r = await _h.PostJson("/api/v1/explain", new { model = "gpt2-tiny", prompt = Prompt, layer = 1, head = 2, focus = "cat", reference = true, pictures = new[] { "HeadView" }, report = true });
        Assert.Equal("Ġcat", r["focus"]!.GetValue<string>());
        Assert.Equal(1, r["focusIndex"]!.GetValue<int>());
        Assert.Equal(1, r["layer"]!.GetValue<int>());
        Assert.Equal("gpt2", r["architecture"]!.GetValue<string>());
        double[][] weights = ServerHarness.Matrix(r["weights"]);
        double[][] scores = ServerHarness.Matrix(r["scores"]);
        // The head's weights are the softmax of its scores, and its outputs are weights·V.
        double max = scores[1].Where(double.IsFinite).Max(), sum = scores[1].Where(double.IsFinite).Sum(x => Math.Exp(x - max));
        for (int j = 0; j < 6; j++) Assert.Equal(j <= 1 ? Math.Exp(scores[1][j] - max) / sum : 0, weights[1][j], 6);
        double[][] v = ServerHarness.Matrix(r["v"]);
        double[] output = ServerHarness.Doubles(r["focusOutput"]);
        for (int d = 0; d < output.Length; d++) Assert.Equal((weights[1][0] * v[0][d]) + (weights[1][1] * v[1][d]), output[d], 6);
        Assert.True(r["referenceCheck"]!["max"]!.GetValue<double>() < 1e-4);
        Assert.True(r["referenceLogits"]!.GetValue<double>() < 1e-3);
        System.Xml.Linq.XElement headView = PictureChecks.Svg(r["pictures"]![0]!["data"]!.GetValue<string>());
        Assert.Contains("layer 1, head 2", headView.Elements().First(e => e.Name.LocalName == "title").Value, StringComparison.Ordinal);
        Assert.Contains(headView.Descendants(), e => (string?)e.Attribute("class") == "edge");
        Assert.Contains("<svg", r["report"]!.GetValue<string>(), StringComparison.Ordinal);

        using HttpResponseMessage mixed = await _h.Client.PostAsync(new Uri("/api/v1/explain", UriKind.Relative), System.Net.Http.Json.JsonContent.Create(new { model = "gpt2-tiny", prompt = Prompt, embeddings = new[] { new[] { 1.0 } } }));
        await ServerHarness.AssertProblem(mixed, 400, "embeddings cannot be combined with model");
        using HttpResponseMessage layer = await _h.Client.PostAsync(new Uri("/api/v1/explain", UriKind.Relative), System.Net.Http.Json.JsonContent.Create(new { model = "gpt2-tiny", prompt = Prompt, layer = 2 }));
        await ServerHarness.AssertProblem(layer, 400, "layer 2 is out of range");
    }

    [Fact]
    public async Task Lookup_takes_word_vectors_from_a_models_token_embeddings()
    {
        JsonNode r = await _h.PostJson("/api/v1/lookup", new { model = "gpt2-tiny", query = "cat", keys = new[] { "mat", "sat" }, values = new[] { 1.0, 2.0 } });
        Assert.Equal(["Ġcat"], r["pieces"]!["cat"]!.AsArray().Select(p => p!.GetValue<string>()));
        double[] wte = Safetensors.Read(Path.Combine(Folder, "model.safetensors"))["wte.weight"].ToDoubleArray();
        Assert.Equal(wte.AsSpan(16 * 24, 24).ToArray(), ServerHarness.Doubles(r["queryVector"]));
        Assert.Equal(wte.AsSpan(22 * 24, 24).ToArray(), ServerHarness.Matrix(r["keyVectors"])[0]);
    }

    [Fact]
    public async Task A_folder_without_its_tokenizer_is_listed_but_not_runnable()
    {
        File.Delete(Path.Combine(Folder, "merges.txt"));
        Assert.False((await _h.GetJson("/api/v1/models/gpt2-tiny"))["runnable"]!.GetValue<bool>());
        using HttpResponseMessage r = await _h.Client.PostAsync(new Uri("/api/v1/runs", UriKind.Relative), System.Net.Http.Json.JsonContent.Create(new { model = "gpt2-tiny", prompt = "the cat" }));
        await ServerHarness.AssertProblem(r, 400, "merges.txt is missing");
    }

    [Fact]
    public async Task A_vocabulary_of_another_size_is_refused_naming_the_model()
    {
        File.WriteAllText(Path.Combine(Folder, "vocab.json"), "{\"a\": 0, \"b\": 1}");
        File.WriteAllText(Path.Combine(Folder, "merges.txt"), "#version: 0.2\n");
        using HttpResponseMessage r = await _h.Client.PostAsync(new Uri("/api/v1/runs", UriKind.Relative), System.Net.Http.Json.JsonContent.Create(new { model = "gpt2-tiny", prompt = "ab" }));
        JsonNode problem = await ServerHarness.AssertProblem(r, 400, "model 'gpt2-tiny': the tokenizer has 2 tokens but the model's vocabulary has 60");
        Assert.DoesNotContain("--", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal); // no CLI flags in the server's messages
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_refused_without_naming_a_cli_flag()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("the cat", 20)); // 40 tokens; the model's context is 16
        using HttpResponseMessage r = await _h.Client.PostAsync(new Uri("/api/v1/runs", UriKind.Relative), System.Net.Http.Json.JsonContent.Create(new { model = "gpt2-tiny", prompt }));
        JsonNode problem = await ServerHarness.AssertProblem(r, 400, "prompt: 40 tokens but the model's context is 16");
        Assert.DoesNotContain("--", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
