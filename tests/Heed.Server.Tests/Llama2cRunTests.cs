using System.Text.Json.Nodes;

namespace Heed.Server.Tests;

/// <summary>Runs of a real llama2.c model (stories260K from ../shared) through the server, wired to Heed.Models.</summary>
public sealed class Llama2cRunTests
{
    private const string ModelFile = "models/stories260K/stories260K.bin";

    [Fact]
    public async Task A_llama2c_run_captures_every_layer_and_head()
    {
        string? missing = TestPaths.MissingReason(ModelFile);
        Assert.True(missing is null, missing);
        string stories = TestPaths.Shared("models", "stories260K");
        string models = ServerHarness.NewFolder();
        Directory.CreateDirectory(Path.Combine(models, "stories260K"));
        File.Copy(Path.Combine(stories, "stories260K.bin"), Path.Combine(models, "stories260K", "stories260K.bin"));
        File.Copy(Path.Combine(stories, "tok512.bin"), Path.Combine(models, "stories260K", "tok512.bin"));
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = models });
        JsonNode info = await h.GetJson("/api/v1/models/stories260K");
        Assert.True(info["runnable"]!.GetValue<bool>());
        JsonNode run = await h.PostJson("/api/v1/runs", new { model = "stories260K", prompt = "Once upon a time" }, 202);
        string id = run["id"]!.GetValue<string>();
        JsonNode status = run;
        for (int i = 0; i < 200 && status["state"]!.GetValue<string>() is "Queued" or "Running"; i++)
        {
            await Task.Delay(25);
            status = await h.GetJson($"/api/v1/runs/{id}");
        }

        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        int[] heads = status["numHeads"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        Assert.Equal(5, heads.Length); // stories260K: 5 layers of 8 query heads (4 key/value heads)
        Assert.All(heads, n => Assert.Equal(8, n));
        double[][] w = ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/4/heads/7"))["weights"]);
        int t = w.Length;
        Assert.Equal("<s>", status["tokens"]![0]!.GetValue<string>());
        for (int i = 0; i < t; i++)
        {
            Assert.Equal(1.0, w[i].Sum(), 9);
            for (int j = i + 1; j < t; j++) Assert.Equal(0.0, w[i][j]); // causal: no weight on later tokens
        }

        JsonNode report = await h.GetJson($"/api/v1/runs/{id}/report");
        Assert.Equal(40, report["heads"]!.AsArray().Count);
        JsonNode explanation = report["explanation"]!;
        // The walk-through's weights are softmax of its scores, and its output is weights·V.
        int focus = explanation["focusIndex"]!.GetValue<int>();
        double[] scores = ServerHarness.Matrix(explanation["scores"])[focus];
        double[] weights = ServerHarness.Matrix(explanation["weights"])[focus];
        double max = scores.Where(double.IsFinite).Max();
        double sum = scores.Sum(s => Math.Exp(s - max));
        for (int j = 0; j < scores.Length; j++) Assert.Equal(Math.Exp(scores[j] - max) / sum, weights[j], 5);
        Directory.Delete(models, true);
    }
}
