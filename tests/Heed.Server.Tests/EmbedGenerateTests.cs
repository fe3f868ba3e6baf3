using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Heed.Models.Bert;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Heed.Server.Tests;

/// <summary>
/// POST /api/v1/embed and POST /api/v1/generate, and the MCP tools embed and generate: the same numbers as Heed.Models' own
/// SentenceEncoder and llama2.c's greedy text, the catalog's kinds, the bounds, and streaming with progress and cancellation.
/// </summary>
public sealed class EmbedGenerateTests : IAsyncLifetime
{
    private static readonly string[] Texts = ["the cat sat on the mat.", "the cats sat", "mat"];

    private ServerHarness _h = null!;
    private string _models = null!;

    public async Task InitializeAsync()
    {
        _models = TestModels.Folder();
        _h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _models, Limits = o.Limits with { MaxEmbedTexts = 4, MaxEmbedTokens = 40, MaxGenerateTokens = 300 } });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        Directory.Delete(_models, true);
    }

    private async Task<McpClient> Mcp() =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(_h.Server.Url, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {ServerHarness.Token}" },
        }));

    private static Dictionary<string, object?> Args(object value) => JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(value))!;

    [Fact]
    public async Task A_gguf_file_that_holds_no_llama_model_is_listed_as_not_runnable()
    {
        File.Copy(TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf"), Path.Combine(_models, "vocab-only.gguf"));
        JsonNode entry = (await _h.GetJson("/api/v1/models"))["models"]!.AsArray().Single(m => m!["id"]!.GetValue<string>() == "vocab-only.gguf")!;
        Assert.Equal("gguf unknown false", $"{entry["format"]} {entry["kind"]} {entry["runnable"]}");
        Assert.Contains("gguf \"gpt2\" (not run by Heed)", entry["description"]!.GetValue<string>(), StringComparison.Ordinal);
        JsonNode problem = await _h.PostJson("/api/v1/generate", new { model = "vocab-only.gguf", prompt = "x" }, 400);
        Assert.Contains("vocab-only.gguf", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_catalog_tells_encoders_from_decoders()
    {
        Directory.CreateDirectory(Path.Combine(_models, "minilm-onnx"));
        File.WriteAllBytes(Path.Combine(_models, "minilm-onnx", "model.onnx"), [8, 1]);
        File.WriteAllLines(Path.Combine(_models, "minilm-onnx", "vocab.txt"), TinyEncoder.Vocab);
        JsonArray models = (await _h.GetJson("/api/v1/models"))["models"]!.AsArray();
        string Describe(string id) => models.Single(m => m!["id"]!.GetValue<string>() == id) is JsonNode m ? $"{m["format"]} {m["kind"]} {m["runnable"]}" : "";
        Assert.Equal("bert-onnx encoder true", Describe("minilm-onnx"));
        Assert.Equal("bert-safetensors encoder true", Describe(TestModels.Encoder));
        Assert.Equal("llama2c decoder true", Describe(TestModels.Llama2c));
        Assert.Equal("gguf decoder true", Describe(TestModels.Gguf));
        Assert.Equal("heed-toy toy true", Describe("seed-cat-sat"));
        Assert.Contains("dim 64, layers 5, heads 8/4 kv", models.Single(m => m!["id"]!.GetValue<string>() == TestModels.Gguf)!["description"]!.GetValue<string>(), StringComparison.Ordinal);

        JsonNode bert = await _h.GetJson($"/api/v1/models/{TestModels.Encoder}/config");
        Assert.Equal("bert", bert["architecture"]!.GetValue<string>());
        Assert.Equal(8, bert["width"]!.GetValue<int>());
        Assert.Equal(2, bert["numHeads"]!.GetValue<int>());
        JsonNode gguf = await _h.GetJson($"/api/v1/models/{TestModels.Gguf}/config");
        Assert.Equal(512, gguf["vocabularySize"]!.GetValue<int>());
        Assert.Equal(4, gguf["numKvHeads"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("cls", false)]
    [InlineData("mean", false)]
    public async Task Embeddings_over_rest_and_mcp_are_the_sentence_encoders_own(string? pooling, bool? normalize)
    {
        var body = new Dictionary<string, object?> { ["model"] = TestModels.Encoder, ["texts"] = Texts };
        if (pooling is not null) body["pooling"] = pooling;
        if (normalize is not null) body["normalize"] = normalize;
        JsonNode rest = await _h.PostJson("/api/v1/embed", body);

        EmbeddingPooling expectedPooling = pooling == "cls" ? EmbeddingPooling.Cls : EmbeddingPooling.Mean;
        EmbeddingResult expected = SentenceEncoder.Load(Path.Combine(_models, TestModels.Encoder)).Embed(Texts, new EmbeddingOptions { Pooling = expectedPooling, Normalize = normalize });
        Assert.Equal(TestModels.Encoder, rest["model"]!.GetValue<string>());
        Assert.Equal(8, rest["dimensions"]!.GetValue<int>());
        Assert.Equal(pooling ?? "mean", rest["pooling"]!.GetValue<string>());
        Assert.Equal(normalize ?? true, rest["normalized"]!.GetValue<bool>());
        Assert.Equal(["[CLS]", "the", "cat", "##s", "sat", "[SEP]"], rest["tokens"]![1]!.AsArray().Select(t => t!.GetValue<string>()));
        Assert.Null(rest["hidden_states"]);
        for (int i = 0; i < Texts.Length; i++)
        {
            double[] vector = ServerHarness.Doubles(rest["embeddings"]![i]);
            Assert.Equal(expected.Embeddings![i].Select(v => (double)v), vector, (a, b) => Math.Abs(a - b) <= 1e-6);
            if (normalize ?? true) Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => v * v)), 5);
        }

        await using McpClient client = await Mcp();
        CallToolResult result = await client.CallToolAsync("embed", body);
        Assert.True(result.IsError != true, string.Join(" ", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        Assert.True(JsonNode.DeepEquals(rest, JsonNode.Parse(result.StructuredContent!.Value.GetRawText())), "the tool answers what REST answers");
    }

    [Fact]
    public async Task Pooling_none_gives_each_texts_last_hidden_state_under_hidden_states()
    {
        JsonNode rest = await _h.PostJson("/api/v1/embed", new { model = TestModels.Encoder, texts = Texts, pooling = "none" });
        Assert.Equal("none", rest["pooling"]!.GetValue<string>());
        Assert.False(rest["normalized"]!.GetValue<bool>());
        Assert.Null(rest["embeddings"]);
        EmbeddingResult expected = SentenceEncoder.Load(Path.Combine(_models, TestModels.Encoder)).Embed(Texts, new EmbeddingOptions { Pooling = EmbeddingPooling.None });
        JsonArray states = rest["hidden_states"]!.AsArray();
        Assert.Equal(3, states.Count);
        Assert.Equal(9, states[0]!.AsArray().Count); // [CLS] the cat sat on the mat . [SEP]
        for (int i = 0; i < Texts.Length; i++)
        {
            double[][] rows = ServerHarness.Matrix(states[i]);
            Assert.Equal(expected.HiddenStates![i].Length, rows.Length);
            for (int t = 0; t < rows.Length; t++) Assert.Equal(expected.HiddenStates[i][t].Select(v => (double)v), rows[t], (a, b) => Math.Abs(a - b) <= 1e-6);
        }
    }

    [Theory]
    [InlineData("""{"model": "stories260K", "texts": ["a"]}""", 400, "model 'stories260K': format llama2c is not an encoder")]
    [InlineData("""{"model": "seed-cat-sat", "texts": ["a"]}""", 400, "model 'seed-cat-sat': a toy model of attention heads over word vectors, not an encoder")]
    [InlineData("""{"model": "nope", "texts": ["a"]}""", 404, "model 'nope': no such model")]
    [InlineData("""{"texts": ["a"]}""", 400, "model: required")]
    [InlineData("""{"model": "tiny-bert"}""", 400, "texts: required")]
    [InlineData("""{"model": "tiny-bert", "texts": []}""", 400, "texts: empty")]
    [InlineData("""{"model": "tiny-bert", "texts": ["a", null]}""", 400, "texts[1]: null; expected a string")]
    [InlineData("""{"model": "tiny-bert", "texts": ["a", "b", "c", "d", "e"]}""", 400, "texts: 5 texts; the server's limit is 4 per request")]
    [InlineData("""{"model": "tiny-bert", "texts": ["the cat sat on the mat. the cat sat on the mat", "the cat sat on the mat. the cat sat on the mat", "the cat sat on the mat. the cat sat on the mat"]}""", 400, "texts: 45 tokens in all ([CLS] and [SEP] included); the server's limit is 40")]
    [InlineData("""{"model": "tiny-bert", "texts": ["a"], "pooling": "max"}""", 400, "$.pooling: ")]
    [InlineData("""{"model": "tiny-bert", "texts": ["a"], "normalise": false}""", 400, "$.normalise: unknown field")]
    public async Task Bad_embedding_requests_are_one_line_problems_naming_the_field(string body, int status, string detail) =>
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/embed", body), status, detail);

    [Fact]
    public async Task Runs_of_an_encoder_show_bidirectional_attention_and_runs_of_a_gguf_file_are_causal()
    {
        JsonNode encoder = await _h.PostJson("/api/v1/runs", new { model = TestModels.Encoder, prompt = "the cat sat", wait = true });
        string id = encoder["status"]!["id"]!.GetValue<string>();
        Assert.Equal(["[CLS]", "the", "cat", "sat", "[SEP]"], encoder["status"]!["tokens"]!.AsArray().Select(t => t!.GetValue<string>()));
        Assert.Equal([2, 2], encoder["status"]!["numHeads"]!.AsArray().Select(n => n!.GetValue<int>()));
        double[][] weights = ServerHarness.Matrix((await _h.GetJson($"/api/v1/runs/{id}/layers/1/heads/1"))["weights"]);
        Assert.All(weights, row => Assert.Equal(1.0, row.Sum(), 9));
        Assert.True(weights[0][4] > 0, "[CLS] attends to the tokens after it");

        JsonNode gguf = await _h.PostJson("/api/v1/runs", new { model = TestModels.Gguf, prompt = "Once upon a time", wait = true });
        double[][] causal = ServerHarness.Matrix((await _h.GetJson($"/api/v1/runs/{gguf["status"]!["id"]!.GetValue<string>()}/layers/4/heads/7"))["weights"]);
        Assert.Equal(0.0, causal[0][1]);
        Assert.Equal("<s>", gguf["status"]!["tokens"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task Greedy_generation_from_an_empty_prompt_is_llama2cs_text_in_json_and_in_events()
    {
        string golden = TestModels.GreedyFromEmptyPrompt();
        JsonNode json = await _h.PostJson("/api/v1/generate", new { model = TestModels.Llama2c, prompt = "", maxTokens = 40 });
        string text = json["text"]!.GetValue<string>();
        Assert.Equal(40, json["tokens"]!.GetValue<int>());
        Assert.Equal(1, json["promptTokens"]!.GetValue<int>()); // BOS
        Assert.Equal("length", json["finishReason"]!.GetValue<string>());
        Assert.Null(json["chatFormat"]);
        Assert.True(text.Length > 100 && golden.StartsWith(text, StringComparison.Ordinal), $"'{text}' is not the start of llama2.c's '{golden}'");

        // The GGUF file of the same weights gives the same text.
        JsonNode gguf = await _h.PostJson("/api/v1/generate", new { model = TestModels.Gguf, prompt = "", maxTokens = 40 });
        Assert.Equal(text, gguf["text"]!.GetValue<string>());

        // Streamed: one 'token' event per token, adding up to the same text, then 'done' with the same result.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generate") { Content = JsonContent(new { model = TestModels.Llama2c, prompt = "", maxTokens = 40, stream = true }) };
        using HttpResponseMessage response = await _h.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        List<(string Type, JsonNode Data)> events = await ReadEvents(response);
        Assert.Equal(40, events.Count(e => e.Type == "token"));
        Assert.Equal(Enumerable.Range(1, 40), events.Where(e => e.Type == "token").Select(e => e.Data["tokens"]!.GetValue<int>()));
        Assert.Equal(text, string.Concat(events.Where(e => e.Type == "token").Select(e => e.Data["text"]!.GetValue<string>())));
        (string type, JsonNode done) = events[^1];
        Assert.Equal("done", type);
        Assert.True(JsonNode.DeepEquals(json, done["result"]), done.ToJsonString());
    }

    [Fact]
    public async Task Messages_are_written_in_the_models_chat_format_and_stop_sequences_end_the_text()
    {
        // stories260K carries no chat template: the conversation is its texts, joined by newlines; one user message is the prompt.
        JsonNode chat = await _h.PostJson("/api/v1/generate", new { model = TestModels.Llama2c, messages = new[] { new { role = "user", content = "Once upon a time" } }, maxTokens = 30 });
        JsonNode prompt = await _h.PostJson("/api/v1/generate", new { model = TestModels.Llama2c, prompt = "Once upon a time", maxTokens = 30 });
        Assert.Equal("Plain", chat["chatFormat"]!.GetValue<string>());
        Assert.Equal(prompt["text"]!.GetValue<string>(), chat["text"]!.GetValue<string>());
        string text = prompt["text"]!.GetValue<string>();

        string stop = text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        JsonNode stopped = await _h.PostJson("/api/v1/generate", new { model = TestModels.Llama2c, prompt = "Once upon a time", maxTokens = 30, stop = new[] { stop } });
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped["text"]!.GetValue<string>());
        Assert.Equal("stop", stopped["finishReason"]!.GetValue<string>());

        // Sampling is seeded: the same seed gives the same text.
        var sampled = new { model = TestModels.Llama2c, prompt = "Once upon a time", maxTokens = 30, temperature = 1.0, topP = 0.9, seed = 42 };
        Assert.Equal((await _h.PostJson("/api/v1/generate", sampled))["text"]!.GetValue<string>(), (await _h.PostJson("/api/v1/generate", sampled))["text"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"model": "tiny-bert", "prompt": "a"}""", 400, "model 'tiny-bert': format bert-safetensors is not a decoder")]
    [InlineData("""{"model": "seed-cat-sat", "prompt": "a"}""", 400, "does not generate text")]
    [InlineData("""{"model": "nope", "prompt": "a"}""", 404, "model 'nope': no such model")]
    [InlineData("""{"prompt": "a"}""", 400, "model: required")]
    [InlineData("""{"model": "stories260K"}""", 400, "prompt: required unless messages are given")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "messages": []}""", 400, "messages: not allowed with prompt")]
    [InlineData("""{"model": "stories260K", "messages": [{"role": "robot", "content": "a"}]}""", 400, "$.messages[0].role: ")]
    [InlineData("""{"model": "stories260K", "messages": [{"role": "user"}]}""", 400, "messages[0].content: required")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "maxTokens": 0}""", 400, "maxTokens: 0; expected 1 to 300")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "maxTokens": 301}""", 400, "maxTokens: 301; expected 1 to 300 (the server's limit)")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "temperature": -1}""", 400, "temperature: -1; expected 0 (greedy) to 100")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "topP": 1.5}""", 400, "topP: 1.5; expected 0 to 1")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "seed": 0}""", 400, "seed: 0; expected 1 or more")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "stop": [""]}""", 400, "stop[0]: expected a text of 1 to 256 characters")]
    [InlineData("""{"model": "stories260K", "prompt": "a", "stream": "yes"}""", 400, "$.stream: ")]
    public async Task Bad_generation_requests_are_one_line_problems_naming_the_field(string body, int status, string detail) =>
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/generate", body), status, detail);

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_a_problem_before_any_event()
    {
        string longPrompt = string.Join(' ', Enumerable.Repeat("Once upon a time", 200));
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/generate", JsonSerializer.Serialize(new { model = TestModels.Llama2c, prompt = longPrompt, stream = true })), 400, "the model's context holds 512");
    }

    [Fact]
    public async Task The_generate_tool_sends_a_progress_notification_per_token_with_the_total()
    {
        await using McpClient client = await Mcp();
        var progress = new ConcurrentQueue<ProgressNotificationValue>();
        await using IAsyncDisposable listener = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
        {
            ProgressNotificationParams? p = JsonSerializer.Deserialize<ProgressNotificationParams>(notification.Params!.ToJsonString());
            if (p is not null) progress.Enqueue(p.Progress);
            return ValueTask.CompletedTask;
        });
        CallToolResult result = await client.CallToolAsync("generate", Args(new { model = TestModels.Llama2c, prompt = "", maxTokens = 25 }), new Progress<ProgressNotificationValue>(_ => { }));
        Assert.True(result.IsError != true, string.Join(" ", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        JsonNode answer = JsonNode.Parse(result.StructuredContent!.Value.GetRawText())!;
        Assert.Equal(25, answer["tokens"]!.GetValue<int>());
        Assert.StartsWith(answer["text"]!.GetValue<string>(), TestModels.GreedyFromEmptyPrompt(), StringComparison.Ordinal);
        for (int i = 0; i < 50 && progress.Count < 25; i++) await Task.Delay(20);
        ProgressNotificationValue[] steps = progress.ToArray();

        // The C# client may hand notifications over out of order (the TypeScript contract test checks the order): every count once.
        Assert.Equal(Enumerable.Range(1, 25), steps.Select(s => (int)s.Progress).Order());
        Assert.All(steps, s => Assert.Equal(25, s.Total));
        Assert.Equal(answer["text"]!.GetValue<string>(), string.Concat(steps.OrderBy(s => s.Progress).Select(s => s.Message)));
    }

    [Fact]
    public async Task Cancelling_a_generation_frees_its_computation_slot()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _models, Limits = o.Limits with { MaxConcurrentComputations = 1 } });

        // REST: the client reads one event and goes away; the next computation gets the only slot.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/generate") { Content = JsonContent(new { model = TestModels.Llama2c, prompt = "", maxTokens = 2048, stream = true }) })
        using (HttpResponseMessage response = await h.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("event: token", await reader.ReadLineAsync(), StringComparison.Ordinal);
        }

        JsonNode after = await h.PostJson("/api/v1/generate", new { model = TestModels.Llama2c, prompt = "", maxTokens = 5 });
        Assert.Equal(5, after["tokens"]!.GetValue<int>());

        // MCP: notifications/cancelled after the first progress notification ends the call as cancelled.
        await using McpClient client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(h.Server.Url, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {ServerHarness.Token}" },
        }));
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await client.CallToolAsync("generate", Args(new { model = TestModels.Llama2c, prompt = "", maxTokens = 2048 }), new Progress<ProgressNotificationValue>(_ => cancel.Cancel()), cancellationToken: cancel.Token));
        CallToolResult next = await client.CallToolAsync("generate", Args(new { model = TestModels.Llama2c, prompt = "", maxTokens = 3 }));
        Assert.Equal(3, next.StructuredContent!.Value.GetProperty("tokens").GetInt32());
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    private static async Task<List<(string Type, JsonNode Data)>> ReadEvents(HttpResponseMessage response)
    {
        var events = new List<(string, JsonNode)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string type = "message";
        while (await reader.ReadLineAsync() is string line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((type, JsonNode.Parse(line["data: ".Length..])!));
        }

        return events;
    }
}
