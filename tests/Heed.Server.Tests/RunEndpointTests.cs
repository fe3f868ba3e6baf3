using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Heed.Server.Services;

namespace Heed.Server.Tests;

/// <summary>Runs: create → status → SSE progress → weights per layer/head → SVG/PNG → report → delete, and expiry.</summary>
public sealed class RunEndpointTests : IAsyncLifetime
{
    private ServerHarness _h = null!;
    private string _models = null!;

    public async Task InitializeAsync()
    {
        _models = ServerHarness.NewFolder();
        File.WriteAllText(Path.Combine(_models, "two.heed-toy.json"), ToyModels.TwoLayersTwoHeads);
        _h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _models });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        Directory.Delete(_models, true);
    }

    private async Task<(string Id, List<(string Type, JsonNode Data)> Events)> RunToEnd(string model, string prompt)
    {
        JsonNode created = await _h.PostJson("/api/v1/runs", new { model, prompt }, 202);
        string id = created["id"]!.GetValue<string>();
        var events = new List<(string, JsonNode)>();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/runs/{id}/events");
        using HttpResponseMessage response = await _h.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string type = "message";
        while (await reader.ReadLineAsync() is string line)
        {
            if (line.StartsWith("event:", StringComparison.Ordinal)) type = line[6..].Trim();
            else if (line.StartsWith("data:", StringComparison.Ordinal)) events.Add((type, JsonNode.Parse(line[5..])!));
        }

        return (id, events);
    }

    [Fact]
    public async Task A_run_streams_progress_then_serves_weights_pictures_and_a_report()
    {
        (string id, var events) = await RunToEnd("two.heed-toy.json", "the cat sat");
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Contains(events, e => e.Type == "progress" && e.Data["message"]!.GetValue<string>() == "layer 1 head 1");
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.Data["sequence"]!.GetValue<int>()));

        JsonNode status = await _h.GetJson($"/api/v1/runs/{id}");
        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(new[] { 2, 2 }, status["numHeads"]!.AsArray().Select(n => n!.GetValue<int>()));

        for (int layer = 0; layer < 2; layer++)
        {
            for (int head = 0; head < 2; head++)
            {
                JsonNode w = await _h.GetJson($"/api/v1/runs/{id}/layers/{layer}/heads/{head}");
                double[][] weights = ServerHarness.Matrix(w["weights"]);
                Assert.Equal(3, weights.Length);
                Assert.All(weights, row => Assert.Equal(1.0, row.Sum(), 12));
            }
        }

        // Layer 0, head 0 of the toy model has W_Q = W_K = I: q·k on one-hot words gives e/(e+2) on the diagonal.
        double[][] w00 = ServerHarness.Matrix((await _h.GetJson($"/api/v1/runs/{id}/layers/0/heads/0"))["weights"]);
        Assert.Equal(Math.E / (Math.E + 2), w00[0][0], 12);

        XElement svg = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/runs/{id}/layers/1/heads/0/svg", UriKind.Relative)));
        Assert.Equal(9, svg.Descendants().Count(e => (string?)e.Attribute("class") == "cell"));
        // The PNG is the same picture rendered at the default 2 pixels per SVG pixel.
        XElement svg01 = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/runs/{id}/layers/0/heads/1/svg", UriKind.Relative)));
        byte[] png = await _h.Client.GetByteArrayAsync(new Uri($"/api/v1/runs/{id}/layers/0/heads/1/png", UriKind.Relative));
        Assert.Equal(PictureChecks.Doubled(PictureChecks.SvgSize(svg01)), PictureChecks.AssertPng(png));

        JsonNode report = await _h.GetJson($"/api/v1/runs/{id}/report");
        Assert.Equal(4, report["heads"]!.AsArray().Count);
        Assert.Equal("cat", report["explanation"]!["focus"]!.GetValue<string>());
        Assert.Equal(6, report["explanation"]!["steps"]!.AsArray().Count);
        Assert.Equal(Pictures.Names.Order(), report["pictures"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).Order());

        Assert.Equal(HttpStatusCode.NoContent, (await _h.Client.DeleteAsync(new Uri($"/api/v1/runs/{id}", UriKind.Relative))).StatusCode);
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}", UriKind.Relative)), 404, "no such run");
        await ServerHarness.AssertProblem(await _h.Client.DeleteAsync(new Uri($"/api/v1/runs/{id}", UriKind.Relative)), 404);
    }

    [Theory]
    [InlineData("heatmap", "?layer=1&head=1", "cell", 9)]
    [InlineData("model-view", "", "thumb", 4)]
    [InlineData("head-view", "?layer=1", "edge", -1)]
    [InlineData("head-view", "?layer=0&head=1", "edge", -1)]
    [InlineData("network", "?layer=0&head=1", "node", 3)]
    [InlineData("rollout", "", "cell", 9)]
    public async Task Every_picture_kind_comes_as_svg_and_the_same_size_png(string name, string query, string shape, int count)
    {
        (string id, _) = await RunToEnd("two.heed-toy.json", "the cat sat");
        XElement svg = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/runs/{id}/pictures/{name}.svg{query}", UriKind.Relative)));
        int shapes = svg.Descendants().Count(e => (string?)e.Attribute("class") == shape);
        if (count >= 0) Assert.Equal(count, shapes);
        else Assert.True(shapes > 0, $"{name} has no {shape}");
        using HttpResponseMessage png = await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}/pictures/{name}.png{query}", UriKind.Relative));
        Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
        Assert.Equal(PictureChecks.Doubled(PictureChecks.SvgSize(svg)), PictureChecks.AssertPng(await png.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task The_html_report_is_explains_self_contained_page_with_every_picture_and_the_steps()
    {
        (string id, _) = await RunToEnd("two.heed-toy.json", "the cat sat");
        using HttpResponseMessage response = await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}/report.html", UriKind.Relative));
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        string html = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Equal(5, html.Split("<svg").Length - 1); // heatmap, model view, head view, network, rollout
        Assert.Contains("Step 6. Weighted sum", html, StringComparison.Ordinal);
        Assert.DoesNotContain("src=\"http", html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"http", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_report_covers_every_layer_when_the_query_asks_for_it()
    {
        (string id, _) = await RunToEnd("two.heed-toy.json", "the cat sat");
        JsonNode report = await _h.GetJson($"/api/v1/runs/{id}/report?allLayers=true");
        Assert.Equal(
            ["model-view", "head-view-layer0", "heatmap-layer0", "network-layer0", "head-view-layer1", "heatmap-layer1", "network-layer1", "rollout"],
            report["pictures"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()));

        // Each per-layer link draws its own layer.
        JsonNode heatmap1 = report["pictures"]!.AsArray().First(p => p!["name"]!.GetValue<string>() == "heatmap-layer1")!;
        XElement svg = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri(heatmap1["svg"]!.GetValue<string>(), UriKind.Relative)));
        Assert.StartsWith("Layer 1, head 0", svg.Elements().First(e => e.Name.LocalName == "title").Value, StringComparison.Ordinal);
        PictureChecks.AssertPng(await _h.Client.GetByteArrayAsync(new Uri(heatmap1["png"]!.GetValue<string>(), UriKind.Relative)));

        // The HTML link keeps the layers: model view, rollout, and a heatmap, head view and network per layer.
        string htmlPath = report["html"]!.GetValue<string>();
        Assert.EndsWith("report.html?allLayers=true", htmlPath, StringComparison.Ordinal);
        string html = await _h.Client.GetStringAsync(new Uri(htmlPath, UriKind.Relative));
        Assert.Equal(8, html.Split("<svg").Length - 1);
        Assert.Contains("Layer 1, head 0: attention weights", html, StringComparison.Ordinal);
        string layer0 = await _h.Client.GetStringAsync(new Uri($"/api/v1/runs/{id}/report.html", UriKind.Relative));
        Assert.Equal(5, layer0.Split("<svg").Length - 1);
        Assert.DoesNotContain("Layer 1, head 0: attention weights", layer0, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_created_with_all_layers_reports_every_layer_unless_the_query_says_otherwise()
    {
        JsonNode report = await _h.PostJson("/api/v1/runs", new { model = "two.heed-toy.json", prompt = "the cat sat", wait = true, allLayers = true });
        string id = report["status"]!["id"]!.GetValue<string>();
        Assert.Equal(8, report["pictures"]!.AsArray().Count);
        Assert.Equal($"/api/v1/runs/{id}/report.html", report["html"]!.GetValue<string>());
        Assert.Equal(8, (await _h.Client.GetStringAsync(new Uri(report["html"]!.GetValue<string>(), UriKind.Relative))).Split("<svg").Length - 1);
        JsonNode layer0 = await _h.GetJson($"/api/v1/runs/{id}/report?allLayers=false");
        Assert.Equal(5, layer0["pictures"]!.AsArray().Count);
        Assert.Equal($"/api/v1/runs/{id}/report.html?allLayers=false", layer0["html"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/pictures/sunset.svg", 400, "picture: 'sunset'")]
    [InlineData("/pictures/heatmap.gif", 400, "format: 'gif'")]
    [InlineData("/pictures/heatmap.svg?layer=7", 400, "layer 7 is out of range")]
    [InlineData("/pictures/network.png?head=2", 400, "head 2 is out of range")]
    public async Task Bad_picture_requests_are_problems(string path, int status, string detail)
    {
        (string id, _) = await RunToEnd("two.heed-toy.json", "the cat sat");
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}{path}", UriKind.Relative)), status, detail);
    }

    [Fact]
    public async Task A_toy_model_with_layers_of_different_head_counts_is_refused()
    {
        File.WriteAllText(Path.Combine(_models, "ragged.heed-toy.json"), """
            {
              "format": "heed-toy-1",
              "embeddings": { "the": [1, 0], "cat": [0, 1] },
              "layers": [
                [ { "wq": [[1], [0]], "wk": [[1], [0]], "wv": [[1], [0]] }, { "wq": [[0], [1]], "wk": [[0], [1]], "wv": [[0], [1]] } ],
                [ { "wq": [[1], [1]], "wk": [[1], [1]], "wv": [[1], [1]] } ]
              ]
            }
            """);
        using HttpResponseMessage r = await _h.Client.PostAsJsonAsync("/api/v1/runs", new { model = "ragged.heed-toy.json", prompt = "the cat" });
        await ServerHarness.AssertProblem(r, 400, "layer 1 has 1 heads but layer 0 has 2");
    }

    [Fact]
    public async Task A_word_outside_a_strict_vocabulary_is_refused_before_the_run_starts()
    {
        File.WriteAllText(Path.Combine(_models, "strict.heed-toy.json"), ToyModels.TwoLayersTwoHeads.Replace("\"hash\"", "\"error\"", StringComparison.Ordinal));
        using HttpResponseMessage r = await _h.Client.PostAsJsonAsync("/api/v1/runs", new { model = "strict.heed-toy.json", prompt = "the zebra sat" });
        await ServerHarness.AssertProblem(r, 400, "word 'zebra'");
    }

    [Fact]
    public async Task A_run_that_fails_while_running_ends_with_a_failed_event_and_its_results_are_409()
    {
        using var runs = new RunService(new ModelCatalog(null), [new FailingRunner()], new ServerLimits(), TimeProvider.System);
        RunStatus created = runs.Create(new RunRequest { Prompt = "anything" });
        var events = new List<RunEvent>();
        RunStatus final = await runs.WaitAsync(created.Id, events.Add, CancellationToken.None);
        Assert.Equal(RunState.Failed, final.State);
        Assert.Equal("the runner broke on purpose", final.Error);
        Assert.Equal(RunState.Failed, events[^1].State);
        Assert.Throws<HeedConflictException>(() => runs.Weights(created.Id, 0, 0));
        Assert.Throws<HeedConflictException>(() => runs.Report(created.Id));
    }

    private sealed class FailingRunner : IModelRunner
    {
        public string Format => "heed-toy";

        public void Check(string modelId, string prompt)
        {
        }

        public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
        {
            progress(1, 2, "started");
            throw new HeedException("the runner broke on purpose");
        }
    }

    [Theory]
    [InlineData("{\"model\":\"nope.heed-toy.json\",\"prompt\":\"a\"}", 404, "no such model")]
    [InlineData("{\"prompt\":\"   \"}", 400, "prompt: required")]
    [InlineData("{\"model\":\"../etc\",\"prompt\":\"a\"}", 400, "plain name")]
    public async Task Bad_run_requests_are_problems(string body, int status, string detail)
    {
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/runs", body), status, detail);
    }

    [Fact]
    public async Task Layer_or_head_out_of_range_is_400()
    {
        (string id, _) = await RunToEnd("seed-cat-sat", "The cat sat on the mat");
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}/layers/0/heads/3", UriKind.Relative)), 400, "head: 3");
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/runs/{id}/layers/5/heads/0", UriKind.Relative)), 400, "layer: 5");
    }

    [Fact]
    public async Task Runs_expire()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { RunExpiry = TimeSpan.FromMilliseconds(300) } });
        JsonNode created = await h.PostJson("/api/v1/runs", new { prompt = "The cat sat" }, 202);
        string id = created["id"]!.GetValue<string>();
        Assert.True(DateTimeOffset.Parse(created["expiresAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddSeconds(-1));
        await Task.Delay(600);
        await ServerHarness.AssertProblem(await h.Client.GetAsync(new Uri($"/api/v1/runs/{id}", UriKind.Relative)), 404, "expired");
        Assert.Empty((await h.GetJson("/api/v1/runs"))["runs"]!.AsArray());
    }

    [Fact]
    public void The_toy_runner_reports_every_head_and_hashes_unknown_words()
    {
        var catalog = new ModelCatalog(null);
        var runner = new ToyModelRunner(catalog, new ServerLimits());
        var seen = new List<string>();
        RunCapture capture = runner.Run(ModelCatalog.SeedModelId, "The dog sat", (d, t, m) => seen.Add(m), CancellationToken.None);
        Assert.Equal(["The", "dog", "sat"], capture.Tokens);
        Assert.Contains("layer 0 head 0", seen);
        Assert.Contains("dog", capture.Notes.Single(), StringComparison.Ordinal);
        // Hashing is a pure function of the lower-case word.
        Assert.Equal(ToyModel.Seed().Embed("Dog", out _), ToyModel.Seed().Embed("dog", out bool known));
        Assert.False(known);
    }
}

/// <summary>Small toy models for tests.</summary>
internal static class ToyModels
{
    /// <summary>One-hot 3-d embeddings; layer 0: W_Q = W_K = I (unscaled) and a swap head; layer 1 reads the 6-wide concatenation.</summary>
    public const string TwoLayersTwoHeads = """
    {
      "format": "heed-toy-1",
      "unknown": "hash",
      "embeddings": { "the": [1, 0, 0], "cat": [0, 1, 0], "sat": [0, 0, 1] },
      "layers": [
        [
          { "wq": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "wk": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "wv": [[1, 0], [0, 1], [1, 1]], "scale": 1.0 },
          { "wq": [[0, 1, 0], [1, 0, 0], [0, 0, 1]], "wk": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "wv": [[1], [2], [3]] }
        ],
        [
          { "wq": [[1], [0], [0]], "wk": [[1], [0], [0]], "wv": [[1], [1], [1]] },
          { "wq": [[0], [1], [0]], "wk": [[0], [1], [1]], "wv": [[1], [0], [0]] }
        ]
      ]
    }
    """;
}
