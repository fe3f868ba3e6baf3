using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Heed.Models.Training;
using Heed.Server.Services;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server.Tests;

/// <summary>Trainings: create → SSE progress and checkpoints → status with every loss → pictures → the model in runs; cancel, delete, bad fields.</summary>
public sealed class TrainingEndpointTests : IAsyncLifetime
{
    // A few hundred milliseconds of training: 2 layers, 2 heads, width 16, context 8, 4 sequences a step.
    private static readonly object Tiny = new { task = "induction", steps = 24, batchSize = 4, layers = 2, heads = 2, width = 16, context = 8, vocab = 6, seed = 7, checkpointEvery = 10 };

    private ServerHarness _h = null!;

    public async Task InitializeAsync() => _h = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    internal static async Task<List<(string Type, JsonNode Data)>> Events(HttpClient client, string id)
    {
        var events = new List<(string, JsonNode)>();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/trainings/{id}/events");
        using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string type = "message";
        while (await reader.ReadLineAsync() is string line)
        {
            if (line.StartsWith("event:", StringComparison.Ordinal)) type = line[6..].Trim();
            else if (line.StartsWith("data:", StringComparison.Ordinal)) events.Add((type, JsonNode.Parse(line[5..])!));
        }

        return events;
    }

    private static float[] Floats(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<float>()).ToArray();

    [Fact]
    public async Task A_training_streams_every_step_and_checkpoint_and_its_losses_are_the_library_trainers()
    {
        JsonNode created = await _h.PostJson("/api/v1/trainings", Tiny, 202);
        string id = created["id"]!.GetValue<string>();
        Assert.Equal(24, created["steps"]!.GetValue<int>());
        List<(string Type, JsonNode Data)> events = await Events(_h.Client, id);

        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.Data["sequence"]!.GetValue<int>()));
        Assert.Equal(Enumerable.Range(1, 24), events.Where(e => e.Type == "progress").Select(e => e.Data["step"]!.GetValue<int>()));
        Assert.Equal(new[] { 10, 20, 24 }, events.Where(e => e.Type == "checkpoint").Select(e => e.Data["step"]!.GetValue<int>()));
        Assert.All(events.Where(e => e.Type == "checkpoint"), e => Assert.NotNull(e.Data["score"]?["value"]));

        JsonNode status = await _h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(24, status["step"]!.GetValue<int>());
        Assert.Equal(24, status["checkpointStep"]!.GetValue<int>());
        float[] losses = Floats(status["losses"]);
        Assert.Equal(events.Where(e => e.Type == "progress").Select(e => e.Data["loss"]!.GetValue<float>()), losses);
        Assert.Equal(losses[^1], status["loss"]!.GetValue<float>());

        // The same options and seed through the library's Trainer give the same losses, bit for bit.
        var options = new TrainingOptions { Task = "induction", Steps = 24, BatchSize = 4, Layers = 2, Heads = 2, Width = 16, Context = 8, VocabSize = 6, Seed = 7 };
        Trainer trainer = Trainer.Create(options);
        Assert.True(trainer.Run());
        Assert.Equal(trainer.Losses, losses);

        // Pictures: the curve, and the best head's heatmap on the probe (T × T cells) at the last checkpoint.
        XElement loss = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/trainings/{id}/loss.svg", UriKind.Relative)));
        Assert.Contains("seed 7", loss.ToString(), StringComparison.Ordinal);
        PictureChecks.AssertPng(await _h.Client.GetByteArrayAsync(new Uri($"/api/v1/trainings/{id}/loss.png", UriKind.Relative)));
        XElement heatmap = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/trainings/{id}/attention.svg?layer=1&head=0", UriKind.Relative)));
        Assert.Equal(64, heatmap.Descendants().Count(e => (string?)e.Attribute("class") == "cell"));
        Assert.Contains("step 24: layer 1, head 0", heatmap.ToString(), StringComparison.Ordinal);
        PictureChecks.AssertPng(await _h.Client.GetByteArrayAsync(new Uri($"/api/v1/trainings/{id}/attention.png", UriKind.Relative)));
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/trainings/{id}/attention.svg?layer=2", UriKind.Relative)), 400, "layer: 2; expected 0..1");

        // The trained model is a catalog entry that runs use.
        string model = status["model"]!.GetValue<string>();
        Assert.Equal("trained-" + id, model);
        JsonNode info = await _h.GetJson($"/api/v1/models/{model}");
        Assert.Equal("gpt2-safetensors", info["format"]!.GetValue<string>());
        Assert.True(info["runnable"]!.GetValue<bool>());
        JsonNode report = await _h.PostJson("/api/v1/runs", new { model, prompt = "abcabc", wait = true });
        Assert.Equal("Succeeded", report["status"]!["state"]!.GetValue<string>());
        Assert.Equal(new[] { 2, 2 }, report["status"]!["numHeads"]!.AsArray().Select(n => n!.GetValue<int>()));

        // Deleting the training deletes its model.
        Assert.Equal(HttpStatusCode.NoContent, (await _h.Client.DeleteAsync(new Uri($"/api/v1/trainings/{id}", UriKind.Relative))).StatusCode);
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/trainings/{id}", UriKind.Relative)), 404, $"training '{id}'");
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/models/{model}", UriKind.Relative)), 404);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_losses_and_another_seed_others()
    {
        async Task<float[]> Train(long seed)
        {
            string id = (await _h.PostJson("/api/v1/trainings", new { task = "seed", steps = 6, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8, seed }, 202))["id"]!.GetValue<string>();
            Assert.Equal("succeeded", (await Events(_h.Client, id))[^1].Type);
            return Floats((await _h.GetJson($"/api/v1/trainings/{id}"))["losses"]);
        }

        float[] first = await Train(3), again = await Train(3), other = await Train(4);
        Assert.Equal(6, first.Length);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task A_chars_training_learns_from_the_text_in_the_body()
    {
        string id = (await _h.PostJson("/api/v1/trainings", new { task = "chars", text = "the cat sat on the mat. the dog sat on the log.", steps = 3, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8 }, 202))["id"]!.GetValue<string>();
        Assert.Equal("succeeded", (await Events(_h.Client, id))[^1].Type);
        JsonNode status = await _h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal(3, status["losses"]!.AsArray().Count);
        Assert.Equal(47, status["settings"]!["textBytes"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_cancelled_training_stops_between_steps_and_keeps_its_model()
    {
        string id = (await _h.PostJson("/api/v1/trainings", new { task = "induction", steps = 2000, batchSize = 8, layers = 2, heads = 2, width = 32, context = 16, checkpointEvery = 1000 }, 202))["id"]!.GetValue<string>();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/trainings/{id}/events");
        using HttpResponseMessage response = await _h.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? last = null;
        bool cancelled = false;
        while (await reader.ReadLineAsync() is string line)
        {
            if (!line.StartsWith("event:", StringComparison.Ordinal)) continue;
            last = line[6..].Trim();
            if (last == "progress" && !cancelled)
            {
                JsonNode answer = await _h.PostJson($"/api/v1/trainings/{id}/cancel", new { }, 202);
                Assert.Equal(id, answer["id"]!.GetValue<string>());
                cancelled = true;
            }
        }

        Assert.Equal("cancelled", last);
        JsonNode status = await _h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal("Cancelled", status["state"]!.GetValue<string>());
        int step = status["step"]!.GetValue<int>();
        Assert.InRange(step, 1, 1999);
        Assert.Equal(step, status["losses"]!.AsArray().Count);
        Assert.Equal(step, status["checkpointStep"]!.GetValue<int>());
        Assert.StartsWith("cancelled after step", status["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("gpt2-safetensors", (await _h.GetJson($"/api/v1/models/trained-{id}"))["format"]!.GetValue<string>());
    }

    private static readonly object TinyChars = new { task = "chars", text = "the cat sat on the mat. the dog sat on the log. a bird sang.", steps = 24, batchSize = 4, layers = 1, heads = 2, width = 16, context = 8, seed = 5, checkpointEvery = 10 };

    private static JsonObject With(object body, int steps)
    {
        JsonObject o = System.Text.Json.JsonSerializer.SerializeToNode(body)!.AsObject();
        o["steps"] = steps;
        return o;
    }

    /// <summary>The bytes of a trained model's weights and AdamW moments, read from the folder its catalog entry names.</summary>
    private (byte[] Weights, byte[] Moments) Checkpoint(string model)
    {
        string folder = _h.Server.Services.GetRequiredService<ModelCatalog>().Resolve(model).FullName;
        return (File.ReadAllBytes(Path.Combine(folder, "model.safetensors")), File.ReadAllBytes(Path.Combine(folder, "optimizer.safetensors")));
    }

    private async Task<JsonNode> TrainToEnd(object body, string expected = "succeeded")
    {
        string id = (await _h.PostJson("/api/v1/trainings", body, 202))["id"]!.GetValue<string>();
        Assert.Equal(expected, (await Events(_h.Client, id))[^1].Type);
        return await _h.GetJson($"/api/v1/trainings/{id}");
    }

    [Theory]
    [InlineData("induction")]
    [InlineData("chars")]
    public async Task A_resumed_training_ends_bit_for_bit_where_an_uninterrupted_one_does(string task)
    {
        object body = task == "chars" ? TinyChars : Tiny;
        JsonNode whole = await TrainToEnd(body);
        JsonNode first = await TrainToEnd(With(body, 13));
        string firstId = first["id"]!.GetValue<string>();

        using HttpResponseMessage response = await _h.Client.PostAsync(new Uri($"/api/v1/trainings/{firstId}/resume", UriKind.Relative), JsonContent.Create(new { steps = 24 }));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, text);
        JsonNode created = JsonNode.Parse(text)!;
        string id = created["id"]!.GetValue<string>();
        Assert.NotEqual(firstId, id);
        Assert.Equal($"/api/v1/trainings/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(firstId, created["resumedFrom"]!["training"]!.GetValue<string>());
        Assert.Equal(13, created["resumedFrom"]!["step"]!.GetValue<int>());
        Assert.Equal(13, created["step"]!.GetValue<int>());
        Assert.Equal(24, created["steps"]!.GetValue<int>());
        Assert.Equal(Floats(first["losses"]), Floats(created["losses"]));
        Assert.Equal(24, created["settings"]!["steps"]!.GetValue<int>());
        Assert.Equal(first["settings"]!["seed"]!.GetValue<long>(), created["settings"]!["seed"]!.GetValue<long>());

        // The original may go as soon as the resumed training has started: the checkpoint (and the text) were taken with it.
        Assert.Equal(HttpStatusCode.NoContent, (await _h.Client.DeleteAsync(new Uri($"/api/v1/trainings/{firstId}", UriKind.Relative))).StatusCode);

        List<(string Type, JsonNode Data)> events = await Events(_h.Client, id);
        Assert.Equal("succeeded", events[^1].Type);
        Assert.Equal(13, events[0].Data["step"]!.GetValue<int>());
        Assert.Contains($"resumed from training {firstId} at step 13", events.Single(e => e.Type == "started").Data["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(14, 11), events.Where(e => e.Type == "progress").Select(e => e.Data["step"]!.GetValue<int>()));
        Assert.Equal(new[] { 13, 20, 24 }, events.Where(e => e.Type == "checkpoint").Select(e => e.Data["step"]!.GetValue<int>()));

        // Every loss and every weight and moment of the model are those of the uninterrupted training.
        JsonNode status = await _h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(Floats(whole["losses"]), Floats(status["losses"]));
        Assert.Equal("trained-" + id, status["model"]!.GetValue<string>());
        (byte[] weights, byte[] moments) = Checkpoint(status["model"]!.GetValue<string>());
        (byte[] wholeWeights, byte[] wholeMoments) = Checkpoint(whole["model"]!.GetValue<string>());
        Assert.True(wholeWeights.AsSpan().SequenceEqual(weights), "the weights differ from the uninterrupted training's");
        Assert.True(wholeMoments.AsSpan().SequenceEqual(moments), "AdamW's moments differ from the uninterrupted training's");

        // The curve covers every step, the original's too.
        string curve = PictureChecks.Svg(await _h.Client.GetStringAsync(new Uri($"/api/v1/trainings/{id}/loss.svg", UriKind.Relative))).ToString();
        Assert.Contains("24 steps; last loss", curve, StringComparison.Ordinal);
        Assert.Contains($"resumed from training {firstId} at step 13", curve, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancelled_training_resumes_without_a_body_to_its_steps_and_a_running_one_is_409()
    {
        var body = new { task = "induction", steps = 300, batchSize = 4, layers = 1, heads = 2, width = 16, context = 8, vocab = 6, seed = 11, checkpointEvery = 100 };
        string id = (await _h.PostJson("/api/v1/trainings", body, 202))["id"]!.GetValue<string>();
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/trainings/{id}/events"))
        using (HttpResponseMessage response = await _h.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync()))
        {
            bool cancelled = false;
            while (await reader.ReadLineAsync() is string line)
            {
                if (line != "event: progress" || cancelled) continue;
                await ServerHarness.AssertProblem(await _h.Client.PostAsync(new Uri($"/api/v1/trainings/{id}/resume", UriKind.Relative), null), 409, $"training '{id}' is running");
                await _h.PostJson($"/api/v1/trainings/{id}/cancel", new { }, 202);
                cancelled = true;
            }
        }

        JsonNode stopped = await _h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal("Cancelled", stopped["state"]!.GetValue<string>());
        int at = stopped["step"]!.GetValue<int>();
        Assert.InRange(at, 1, 299);

        // No body: the original's steps and checkpointEvery.
        using HttpResponseMessage resumed = await _h.Client.PostAsync(new Uri($"/api/v1/trainings/{id}/resume", UriKind.Relative), null);
        JsonNode created = JsonNode.Parse(await resumed.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.Accepted, resumed.StatusCode);
        string next = created["id"]!.GetValue<string>();
        Assert.Equal(300, created["steps"]!.GetValue<int>());
        Assert.Equal(100, created["settings"]!["checkpointEvery"]!.GetValue<int>());
        Assert.Equal(at, created["resumedFrom"]!["step"]!.GetValue<int>());
        Assert.Equal("succeeded", (await Events(_h.Client, next))[^1].Type);

        JsonNode whole = await TrainToEnd(body);
        Assert.Equal(Floats(whole["losses"]), Floats((await _h.GetJson($"/api/v1/trainings/{next}"))["losses"]));
        Assert.True(Checkpoint("trained-" + next).Weights.AsSpan().SequenceEqual(Checkpoint(whole["model"]!.GetValue<string>()).Weights));
    }

    [Fact]
    public async Task Resuming_what_cannot_be_resumed_is_a_problem_naming_why()
    {
        string id = (await TrainToEnd(new { steps = 6, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8, checkpointEvery = 3 }))["id"]!.GetValue<string>();
        string resume = $"/api/v1/trainings/{id}/resume";
        await ServerHarness.AssertProblem(await _h.Client.PostAsync(new Uri("/api/v1/trainings/nope/resume", UriKind.Relative), null), 404, "training 'nope': no such training");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{}"), 400, $"steps: 6; expected 7..2000, the step to stop at (training '{id}' is at step 6)");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{\"steps\": 2001}"), 400, "steps: 2001; expected 7..2000");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{\"steps\": 10, \"checkpointEvery\": 11}"), 400, "checkpointEvery: 11; expected 1..steps (10)");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{\"steps\": 10, \"checkpointEvery\": 0}"), 400, "checkpointEvery: 0; expected 1..steps (10)");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{\"steps\": 10, \"seed\": 2}"), 400, "unknown field 'seed'");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "{\"steps\": \"ten\"}"), 400, "steps");
        await ServerHarness.AssertProblem(await _h.PostRaw(resume, "[1]"), 400);
    }

    [Fact]
    public async Task A_resumption_counts_against_the_trainings_kept()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxTrainings = 1 } });
        string id = (await h.PostJson("/api/v1/trainings", new { steps = 2, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8 }, 202))["id"]!.GetValue<string>();
        Assert.Equal("succeeded", (await Events(h.Client, id))[^1].Type);
        await ServerHarness.AssertProblem(await h.PostRaw($"/api/v1/trainings/{id}/resume", "{\"steps\": 4}"), 400, "trainings: 1 trainings are kept, the server's limit");
    }

    [Theory]
    [InlineData("{\"steps\": 0}", "steps: 0; expected 1..2000")]
    [InlineData("{\"steps\": 100000}", "steps: 100000; expected 1..2000")]
    [InlineData("{\"task\": \"poetry\"}", "task: 'poetry'; expected seed, induction, induction-shifted or chars")]
    [InlineData("{\"heads\": 3, \"width\": 32}", "width: 32; expected a multiple of heads (3)")]
    [InlineData("{\"context\": 1000}", "context: 1000; expected 2..64")]
    [InlineData("{\"task\": \"chars\"}", "text: required for task chars")]
    [InlineData("{\"text\": \"abc\"}", "text: only for task chars, not induction")]
    [InlineData("{\"task\": \"chars\", \"text\": \"short\"}", "text: 5 bytes; expected more than context (16)")]
    [InlineData("{\"lr\": -1}", "lr: -1; expected a number in (0, 1]")]
    [InlineData("{\"batchSize\": 64, \"context\": 64}", "batchSize: 64 × context 64 = 4096 tokens a step")]
    [InlineData("{\"steps\": 10, \"checkpointEvery\": 11}", "checkpointEvery: 11; expected 1..steps (10)")]
    [InlineData("{\"stepz\": 10}", "stepz")]
    [InlineData("{\"steps\": \"ten\"}", "steps")]
    public async Task A_bad_field_is_a_problem_naming_it(string body, string detail)
    {
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/trainings", body), 400, detail);
    }

    [Fact]
    public async Task A_text_over_the_limit_is_refused()
    {
        string text = new('a', TrainingService.MaxTextBytes + 1);
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/trainings", $"{{\"task\": \"chars\", \"text\": \"{text}\"}}"), 400, $"text: {TrainingService.MaxTextBytes + 1} bytes; expected at most {TrainingService.MaxTextBytes}");
    }

    [Fact]
    public async Task Unknown_trainings_are_404()
    {
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri("/api/v1/trainings/nope", UriKind.Relative)), 404, "training 'nope': no such training");
        await ServerHarness.AssertProblem(await _h.Client.PostAsync(new Uri("/api/v1/trainings/nope/cancel", UriKind.Relative), null), 404, "training 'nope'");
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri("/api/v1/trainings/nope/loss.svg", UriKind.Relative)), 404, "training 'nope'");
    }

    [Fact]
    public async Task The_number_of_trainings_kept_is_bounded()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxTrainings = 1 } });
        await h.PostJson("/api/v1/trainings", new { steps = 2, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8 }, 202);
        await ServerHarness.AssertProblem(await h.PostRaw("/api/v1/trainings", "{}"), 400, "trainings: 1 trainings are kept, the server's limit");
    }
}
