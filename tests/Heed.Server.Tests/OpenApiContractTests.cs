using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Heed.Server.Tests;

/// <summary>
/// The OpenAPI document as a contract: every operation it lists is called once with valid input and once with invalid input, and
/// every answer (status, media type and JSON body) is checked against what the document says for that status with a real JSON
/// Schema validator (JsonSchema.Net, draft 2020-12, which OpenAPI 3.1 schemas are).
/// </summary>
public sealed class OpenApiContractTests : IAsyncLifetime
{
    private ServerHarness _h = null!;
    private JsonObject _document = null!;
    private string _models = null!;
    private readonly HashSet<string> _called = [];

    public async Task InitializeAsync()
    {
        _models = TestModels.Folder();
        _h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _models });
        _document = (await _h.GetJson("/openapi/v1.json")).AsObject();
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        Directory.Delete(_models, true);
    }

    /// <summary>Sends a request and checks the answer against the document; returns the JSON body (null when not JSON).</summary>
    private async Task<JsonNode?> Check(HttpMethod method, string template, string path, int expectedStatus, string? body = null, bool token = true, string? accept = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        if (accept is not null) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        using HttpResponseMessage response = await (token ? _h.Client : _h.Anonymous).SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        string where = $"{method} {path} -> {(int)response.StatusCode}";
        Assert.True((int)response.StatusCode == expectedStatus, $"{where}: expected {expectedStatus}: {await response.Content.ReadAsStringAsync()}");
        _called.Add($"{method.Method.ToUpperInvariant()} {template}");

        JsonObject operation = _document["paths"]?[template]?[method.Method.ToLowerInvariant()]?.AsObject()
            ?? throw new Xunit.Sdk.XunitException($"{where}: the document has no operation {method} {template}");
        JsonObject? answer = operation["responses"]?[expectedStatus.ToString(System.Globalization.CultureInfo.InvariantCulture)]?.AsObject()
            ?? operation["responses"]?["default"]?.AsObject();
        Assert.True(answer is not null, $"{where}: status {expectedStatus} is not documented");
        if (response.Content.Headers.ContentLength == 0 || expectedStatus == 204)
        {
            Assert.Null(answer["content"]);
            return null;
        }

        string mediaType = response.Content.Headers.ContentType?.MediaType ?? "";
        JsonNode? media = answer["content"]?[mediaType];
        Assert.True(media is not null, $"{where}: media type {mediaType} is not documented (documented: {string.Join(", ", answer["content"]?.AsObject().Select(p => p.Key) ?? [])})");
        if (mediaType is not ("application/json" or "application/problem+json")) return null;

        string text = await response.Content.ReadAsStringAsync();
        using JsonDocument instance = JsonDocument.Parse(text);
        EvaluationResults result = Schema(media["schema"]!).Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, $"{where}: the body does not match the document's schema: {Errors(result)}\n{text[..Math.Min(text.Length, 600)]}");
        return JsonNode.Parse(text);
    }

    /// <summary>A schema of the document as a standalone JSON Schema: its references to components become references to $defs.</summary>
    private JsonSchema Schema(JsonNode schema)
    {
        var root = JsonNode.Parse(schema.ToJsonString())!.AsObject();
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
        root["$defs"] = JsonNode.Parse(_document["components"]!["schemas"]!.ToJsonString());
        string text = root.ToJsonString().Replace("\"#/components/schemas/", "\"#/$defs/", StringComparison.Ordinal);
        return JsonSchema.FromText(text, baseUri: new Uri($"https://heed.test/{Guid.NewGuid():N}"));
    }

    private static string Errors(EvaluationResults result) =>
        string.Join("; ", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Take(5)
            .Select(d => $"{d.InstanceLocation}: {string.Join(", ", d.Errors!.Values)}"));

    private static string Tensor(params double[] data) => $$"""{"shape": [1, 1, 2, 2], "dtype": "float64", "data": [{{string.Join(", ", data)}}]}""";

    [Fact]
    public async Task Every_operation_answers_what_the_document_says_for_valid_and_invalid_input()
    {
        HttpMethod get = HttpMethod.Get, post = HttpMethod.Post;
        await Check(get, "/api/v1", "/api/v1", 200);
        await Check(get, "/api/v1", "/api/v1", 401, token: false);
        await Check(get, "/api/v1/health", "/api/v1/health", 200, token: false);
        await Check(get, "/api/v1/capabilities", "/api/v1/capabilities", 200);
        await Check(get, "/api/v1/capabilities", "/api/v1/capabilities", 401, token: false);

        string eye = Tensor(1, 0, 0, 1);
        await Check(post, "/api/v1/attention", "/api/v1/attention", 200, $$"""{"q": {{eye}}, "k": {{eye}}, "v": {{eye}}, "isCausal": true, "qkMatmulOutputMode": 2}""");
        await Check(post, "/api/v1/attention", "/api/v1/attention", 400, $$"""{"q": {{eye}}, "k": {{eye}}}""");
        string x = """{"shape": [2, 2], "dtype": "float64", "data": [1, 0, 0, 1]}""";
        await Check(post, "/api/v1/multi-head-attention", "/api/v1/multi-head-attention", 200, $$"""{"x": {{x}}, "wq": {{x}}, "wk": {{x}}, "wv": {{x}}, "numHeads": 1}""");
        await Check(post, "/api/v1/multi-head-attention", "/api/v1/multi-head-attention", 400, $$"""{"x": {{x}}, "wq": {{x}}, "wk": {{x}}, "wv": {{x}}, "numHeads": 3}""");
        await Check(post, "/api/v1/explain", "/api/v1/explain", 200, "{}");
        await Check(post, "/api/v1/explain", "/api/v1/explain", 200, """{"tokens": ["a", "b"], "embeddings": [[1, 0], [0, 1]], "wq": [[1, 0], [0, 1]], "wk": [[1, 0], [0, 1]], "wv": [[1, 0], [0, 1]], "causal": true}""");
        await Check(post, "/api/v1/explain", "/api/v1/explain", 400, """{"scle": 2}""");
        await Check(post, "/api/v1/lookup", "/api/v1/lookup", 200, "{}");
        await Check(post, "/api/v1/lookup", "/api/v1/lookup", 400, """{"keys": ["apple"], "values": [1, 2]}""");

        await Check(post, "/api/v1/embed", "/api/v1/embed", 200, """{"model": "tiny-bert", "texts": ["the cat sat", "the mat"]}""");
        await Check(post, "/api/v1/embed", "/api/v1/embed", 200, """{"model": "tiny-bert", "texts": ["the cat sat"], "pooling": "none"}""");
        await Check(post, "/api/v1/embed", "/api/v1/embed", 400, """{"model": "stories260K", "texts": ["a"]}""");
        await Check(post, "/api/v1/embed", "/api/v1/embed", 404, """{"model": "nope", "texts": ["a"]}""");
        await Check(post, "/api/v1/generate", "/api/v1/generate", 200, """{"model": "stories260K", "prompt": "Once upon a time", "maxTokens": 8}""");
        await Check(post, "/api/v1/generate", "/api/v1/generate", 200, """{"model": "stories260K.f32.gguf", "messages": [{"role": "user", "content": "Hi"}], "maxTokens": 4, "stream": true}""", accept: "text/event-stream");
        await Check(post, "/api/v1/generate", "/api/v1/generate", 400, """{"model": "stories260K", "prompt": "a", "maxTokens": 0}""");
        await Check(get, "/api/v1/models", "/api/v1/models", 200);
        await Check(get, "/api/v1/models", "/api/v1/models", 401, token: false);
        await Check(get, "/api/v1/models/{id}", "/api/v1/models/seed-cat-sat", 200);
        await Check(get, "/api/v1/models/{id}", "/api/v1/models/nope", 404);
        await Check(get, "/api/v1/models/{id}/config", "/api/v1/models/seed-cat-sat/config", 200);
        await Check(get, "/api/v1/models/{id}/config", "/api/v1/models/nope/config", 404);

        JsonNode run = (await Check(post, "/api/v1/runs", "/api/v1/runs", 200, """{"prompt": "The cat sat on the mat", "wait": true}"""))!;
        string id = run["status"]!["id"]!.GetValue<string>();
        await Check(post, "/api/v1/runs", "/api/v1/runs", 400, """{"model": "seed-cat-sat"}""");
        JsonNode queued = (await Check(post, "/api/v1/runs", "/api/v1/runs", 202, """{"prompt": "The mat"}"""))!;
        await Check(get, "/api/v1/runs", "/api/v1/runs", 200);
        await Check(get, "/api/v1/runs", "/api/v1/runs", 401, token: false);
        await Check(get, "/api/v1/runs/{id}", $"/api/v1/runs/{id}", 200);
        await Check(get, "/api/v1/runs/{id}", "/api/v1/runs/0123456789abcdef", 404);
        await Check(get, "/api/v1/runs/{id}/events", $"/api/v1/runs/{id}/events", 200, accept: "text/event-stream");
        await Check(get, "/api/v1/runs/{id}/events", "/api/v1/runs/0123456789abcdef/events", 404);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}", $"/api/v1/runs/{id}/layers/0/heads/0", 200);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}", $"/api/v1/runs/{id}/layers/9/heads/0", 400);
        JsonNode walked = (await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/explain", $"/api/v1/runs/{id}/layers/0/heads/0/explain?position=3", 200))!;
        Assert.Equal(3, walked["focusIndex"]!.GetValue<int>());
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/explain", $"/api/v1/runs/{id}/layers/0/heads/0/explain?position=6", 400);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/svg", $"/api/v1/runs/{id}/layers/0/heads/0/svg", 200);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/svg", "/api/v1/runs/0123456789abcdef/layers/0/heads/0/svg", 404);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/png", $"/api/v1/runs/{id}/layers/0/heads/0/png", 200);
        await Check(get, "/api/v1/runs/{id}/layers/{layer}/heads/{head}/png", $"/api/v1/runs/{id}/layers/0/heads/7/png", 400);
        await Check(get, "/api/v1/runs/{id}/pictures/{name}.{format}", $"/api/v1/runs/{id}/pictures/heatmap.svg", 200);
        await Check(get, "/api/v1/runs/{id}/pictures/{name}.{format}", $"/api/v1/runs/{id}/pictures/rollout.png", 200);
        await Check(get, "/api/v1/runs/{id}/pictures/{name}.{format}", $"/api/v1/runs/{id}/pictures/sunset.png", 400);
        await Check(get, "/api/v1/runs/{id}/report", $"/api/v1/runs/{id}/report", 200);
        await Check(get, "/api/v1/runs/{id}/report", "/api/v1/runs/0123456789abcdef/report", 404);
        await Check(get, "/api/v1/runs/{id}/report.html", $"/api/v1/runs/{id}/report.html", 200);
        await Check(get, "/api/v1/runs/{id}/report.html", "/api/v1/runs/0123456789abcdef/report.html", 404);
        await Check(post, "/api/v1/runs/{id}/cancel", $"/api/v1/runs/{queued["id"]!.GetValue<string>()}/cancel", 202);
        await Check(post, "/api/v1/runs/{id}/cancel", "/api/v1/runs/0123456789abcdef/cancel", 404);
        await Check(HttpMethod.Delete, "/api/v1/runs/{id}", $"/api/v1/runs/{id}", 204);
        await Check(HttpMethod.Delete, "/api/v1/runs/{id}", $"/api/v1/runs/{id}", 404);

        const string Trainings = "/api/v1/trainings";
        JsonNode training = (await Check(post, Trainings, Trainings, 202, """{"task": "induction", "steps": 4, "batchSize": 2, "layers": 1, "heads": 2, "width": 8, "context": 8, "checkpointEvery": 2}"""))!;
        string tid = training["id"]!.GetValue<string>();
        await Check(post, Trainings, Trainings, 400, """{"steps": 0}""");
        await Check(get, Trainings, Trainings, 200);
        await Check(get, Trainings, Trainings, 401, token: false);
        await Check(get, Trainings + "/{id}/events", $"{Trainings}/{tid}/events", 200, accept: "text/event-stream");
        await Check(get, Trainings + "/{id}/events", $"{Trainings}/0123456789abcdef/events", 404);
        for (int i = 0; i < 600 && (await _h.GetJson($"{Trainings}/{tid}"))["state"]!.GetValue<string>() != "Succeeded"; i++) await Task.Delay(50);
        JsonNode trained = (await Check(get, Trainings + "/{id}", $"{Trainings}/{tid}", 200))!;
        Assert.Equal(4, trained["losses"]!.AsArray().Count);
        await Check(get, Trainings + "/{id}", $"{Trainings}/0123456789abcdef", 404);
        await Check(get, Trainings + "/{id}/loss.{format}", $"{Trainings}/{tid}/loss.svg", 200);
        await Check(get, Trainings + "/{id}/loss.{format}", $"{Trainings}/{tid}/loss.gif", 400);
        await Check(get, Trainings + "/{id}/attention.{format}", $"{Trainings}/{tid}/attention.png?layer=0&head=1", 200);
        await Check(get, Trainings + "/{id}/attention.{format}", $"{Trainings}/{tid}/attention.svg?head=2", 400);
        await Check(post, Trainings + "/{id}/cancel", $"{Trainings}/{tid}/cancel", 202);
        await Check(post, Trainings + "/{id}/cancel", $"{Trainings}/0123456789abcdef/cancel", 404);
        JsonNode resumed = (await Check(post, Trainings + "/{id}/resume", $"{Trainings}/{tid}/resume", 202, """{"steps": 6}"""))!;
        Assert.Equal(tid, resumed["resumedFrom"]!["training"]!.GetValue<string>());
        string rid = resumed["id"]!.GetValue<string>();
        await Check(post, Trainings + "/{id}/resume", $"{Trainings}/{tid}/resume", 400, """{"steps": 4}""");
        await Check(post, Trainings + "/{id}/resume", $"{Trainings}/0123456789abcdef/resume", 404, "{}");
        JsonNode running = (await Check(post, Trainings, Trainings, 202, """{"steps": 2000, "checkpointEvery": 1000}"""))!;
        await Check(post, Trainings + "/{id}/resume", $"{Trainings}/{running["id"]!.GetValue<string>()}/resume", 409, "{}");
        await Check(HttpMethod.Delete, Trainings + "/{id}", $"{Trainings}/{running["id"]!.GetValue<string>()}", 204);
        await Check(HttpMethod.Delete, Trainings + "/{id}", $"{Trainings}/{rid}", 204);
        await Check(HttpMethod.Delete, Trainings + "/{id}", $"{Trainings}/{tid}", 204);
        await Check(HttpMethod.Delete, Trainings + "/{id}", $"{Trainings}/{tid}", 404);

        const string Matrices = "/api/v1/workspace/matrices";
        await Check(post, Matrices, Matrices, 201, """{"name": "E", "values": [[1, 0], [0, 1], [1, 1]], "metadata": {"rows": "tokens"}}""");
        await Check(post, Matrices, Matrices, 400, """{"name": "9bad", "rows": 1, "columns": 1}""");
        await Check(get, Matrices, Matrices, 200);
        await Check(get, Matrices, Matrices, 401, token: false);
        await Check(get, Matrices + "/{name}", Matrices + "/E?rowStart=1&rowCount=2", 200);
        await Check(get, Matrices + "/{name}", Matrices + "/nope", 404);
        await Check(HttpMethod.Patch, Matrices + "/{name}", Matrices + "/E", 200, """{"rowStart": 2, "values": [[2, 2]]}""");
        await Check(HttpMethod.Patch, Matrices + "/{name}", Matrices + "/E", 400, """{"rowStart": 3, "values": [[2, 2]]}""");
        await Check(post, "/api/v1/workspace/analyse", "/api/v1/workspace/analyse", 200, """{"kind": "Attention", "q": "E", "k": "E", "v": "E", "chart": "Svg"}""");
        await Check(post, "/api/v1/workspace/analyse", "/api/v1/workspace/analyse", 404, """{"kind": "Attention", "q": "E", "k": "nope", "v": "E"}""");
        await Check(HttpMethod.Delete, Matrices + "/{name}", Matrices + "/E", 204);
        await Check(HttpMethod.Delete, Matrices + "/{name}", Matrices + "/E", 404);

        string[] documented = [.. _document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject().Select(m => $"{m.Key.ToUpperInvariant()} {p.Key}")).Order(StringComparer.Ordinal)];
        Assert.Equal(documented, _called.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_document_says_what_clients_need()
    {
        JsonObject paths = _document["paths"]!.AsObject();
        Assert.Equal("MIT", _document["info"]!["license"]!["identifier"]!.GetValue<string>());
        Assert.False(_document["servers"]![0]!["url"]!.GetValue<string>().EndsWith('/'));
        Assert.Null(_document["security"]);
        Assert.Empty(paths["/api/v1/health"]!["get"]!["security"]!.AsArray());
        Assert.Equal("bearer", paths["/api/v1/models"]!["get"]!["security"]![0]!.AsObject().Single().Key);
        string[] pictures = [.. paths["/api/v1/runs/{id}/pictures/{name}.{format}"]!["get"]!["responses"]!["200"]!["content"]!.AsObject().Select(c => c.Key).Order(StringComparer.Ordinal)];
        Assert.Equal(["image/png", "image/svg+xml"], pictures);
        foreach (string status in new[] { "401", "403", "408", "429", "503" })
        {
            Assert.True(paths["/api/v1/attention"]!["post"]!["responses"]![status] is not null, $"status {status} is not documented");
        }

        JsonObject schemas = _document["components"]!["schemas"]!.AsObject();
        Assert.Equal(["k", "q", "v"], schemas["AttentionRequest"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.Equal(["prompt"], schemas["RunRequest"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["model", "texts"], schemas["EmbedRequest"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.Equal(["model"], schemas["GenerateRequest"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Null(schemas["TrainingRequest"]!["required"]);
        Assert.DoesNotContain("loss", schemas["TrainingStatus"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains("losses", schemas["TrainingStatus"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        string[] trainingPictures = [.. paths["/api/v1/trainings/{id}/attention.{format}"]!["get"]!["responses"]!["200"]!["content"]!.AsObject().Select(c => c.Key).Order(StringComparer.Ordinal)];
        Assert.Equal(["image/png", "image/svg+xml"], trainingPictures);
        string pooling = schemas["EmbedRequest"]!["properties"]!["pooling"]!.ToJsonString();
        string? reference = System.Text.RegularExpressions.Regex.Match(pooling, "#/components/schemas/(\\w+)") is { Success: true } m ? m.Groups[1].Value : null;
        Assert.Contains("\"enum\":[\"mean\",\"cls\",\"none\"", reference is null ? pooling : schemas[reference]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("hidden_states", schemas["EmbedResponse"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.DoesNotContain("hidden_states", schemas["EmbedResponse"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        string[] generated = [.. paths["/api/v1/generate"]!["post"]!["responses"]!["200"]!["content"]!.AsObject().Select(c => c.Key).Order(StringComparer.Ordinal)];
        Assert.Equal(["application/json", "text/event-stream"], generated);
        Assert.DoesNotContain("chart", schemas["AnalyseResponse"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("number", schemas["AttentionRequest"]!["properties"]!["scale"]!["type"]!.AsArray().Select(n => n!.GetValue<string>()).Single(t => t != "null"));

        string text = _document.ToJsonString();
        Assert.DoesNotContain("\"type\":\"object\",\"anyOf\"", text, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"CancellationToken|string\? |[A-Z][a-z]+Request\.[A-Z]", text);
    }

    [Theory]
    [InlineData("""{"scle": 2}""", "$.scle: unknown field 'scle'")]
    [InlineData("""{"scale": 1e400}""", "$.scale: a number outside the float64 range; expected a finite number")]
    [InlineData("""{"scale": "Infinity"}""", "$.scale: expected a number")]
    [InlineData("""{"tokens": "a"}""", "$.tokens: expected an array")]
    [InlineData("""{"causal": 1}""", "$.causal: expected true or false")]
    [InlineData("""{"pictures": ["Sunset"]}""", "$.pictures[0]: expected one of")]
    [InlineData("""{"scale": 1,""", "the body is not valid JSON at line 1")]
    [InlineData("", "the request body is empty; expected a JSON object")]
    public async Task Bad_bodies_are_400_problems_that_name_the_field_in_Heeds_words(string body, string detail)
    {
        JsonNode problem = await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/explain", body), 400, detail);
        Assert.DoesNotContain("System.", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_number_beyond_float_range_in_tensor_data_is_refused_and_minus_infinity_only_in_masks()
    {
        string eye = Tensor(1, 0, 0, 1);
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/attention", $$"""{"q": {"shape": [1, 1, 2, 2], "data": [1, 0, 0, 1e400]}, "k": {{eye}}, "v": {{eye}}}"""), 400, "q.data[3]: Infinity; expected a finite number");
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/attention", $$"""{"q": {"shape": [1, 1, 2, 2], "data": [1, 0, 0, "NaN"]}, "k": {{eye}}, "v": {{eye}}}"""), 400, "q.data[3]: NaN; expected a finite number");
        JsonNode ok = await _h.PostJson("/api/v1/attention", JsonNode.Parse($$$"""{"q": {{{eye}}}, "k": {{{eye}}}, "v": {{{eye}}}, "scale": 1, "attnMask": {"shape": [2, 2], "dtype": "float64", "data": [0, "-Infinity", 0, 0]}}""")!);
        Assert.Equal(1.0, ok["output"]!["data"]![0]!.GetValue<double>(), 12);
    }
}
