using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Heed.Server.Tests;

/// <summary>
/// The MCP contract through the SDK's own client, over Streamable HTTP at /mcp and over stdio (heed mcp): every tool with
/// valid arguments (its structuredContent validated against its outputSchema by JsonSchema.Net) and with bad ones (the
/// error names the field), every resource template read, the prompt got and a missing argument refused.
/// </summary>
public sealed class McpTests
{
    private static readonly string[] ExpectedTools =
    [
        "attention", "cancel_run", "cancel_training", "delete_run", "embed", "explain", "explain_run_head", "generate", "get_attention_weights", "get_run", "get_run_picture", "get_run_report", "get_training", "list_models", "lookup", "model_config",
        "multi_head_attention", "resume_training", "run_model", "train", "workspace_analyse", "workspace_create", "workspace_delete", "workspace_get", "workspace_list", "workspace_update",
    ];

    private static readonly string[] ExpectedTemplates =
    [
        "heed://runs/{id}/layers/{layer}/heads/{head}", "heed://runs/{id}/pictures/{file}{?layer,head}", "heed://runs/{id}/report", "heed://runs/{id}/report.html", "heed://workspace/{name}",
    ];

    private static readonly object Eye = new { shape = new[] { 1, 1, 2, 2 }, dtype = "float64", data = new double[] { 1, 0, 0, 1 } };

    private static readonly object Eye2 = new { shape = new[] { 2, 2 }, dtype = "float64", data = new double[] { 1, 0, 0, 1 } };

    private static readonly double[][] Eye2Rows = [[1, 0], [0, 1]];

    private static Dictionary<string, object?> Args(object value) =>
        JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(value))!;

    private static async Task<McpClient> HttpClientFor(ServerHarness h) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(h.Server.Url, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {ServerHarness.Token}" },
        }));

    /// <summary>The tool's contract on a good call: no error, structuredContent valid against outputSchema, the first block the same JSON as text.</summary>
    private static void AssertValid(Tool tool, CallToolResult result)
    {
        Assert.True(result.IsError != true, $"{tool.Name}: {string.Join(' ', result.Content.OfType<TextContentBlock>().Select(t => t.Text))}");
        Assert.NotNull(result.StructuredContent);
        string problems = Validate(tool.OutputSchema!.Value, result.StructuredContent.Value);
        Assert.True(problems.Length == 0, $"{tool.Name}: structuredContent does not match outputSchema: {problems}");
        TextContentBlock text = Assert.IsType<TextContentBlock>(result.Content[0]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(text.Text), JsonNode.Parse(result.StructuredContent.Value.GetRawText())), $"{tool.Name}: the text is not the JSON of structuredContent");
    }

    /// <summary>The errors JsonSchema.Net finds in <paramref name="instance"/>, or "".</summary>
    private static string Validate(JsonElement schema, JsonElement instance)
    {
        EvaluationResults results = JsonSchema.Build(schema).Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid ? "" : string.Join("; ", (results.Details ?? [results]).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));
    }

    private static async Task<JsonNode> Call(McpClient client, Dictionary<string, Tool> tools, string name, object args, IProgress<ProgressNotificationValue>? progress = null)
    {
        Dictionary<string, object?> arguments = Args(args);
        Tool tool = tools[name];
        string inputProblems = Validate(tool.InputSchema, JsonSerializer.SerializeToElement(arguments));
        Assert.True(inputProblems.Length == 0, $"{name}: the valid arguments do not match inputSchema: {inputProblems}");
        CallToolResult result = await client.CallToolAsync(name, arguments, progress);
        AssertValid(tool, result);
        return JsonNode.Parse(result.StructuredContent!.Value.GetRawText())!;
    }

    private static async Task<CallToolResult> CallRaw(McpClient client, string name, object args) => await client.CallToolAsync(name, Args(args));

    /// <summary>Every tool with valid arguments, every tool with bad ones, every resource template, the prompt, and the protocol errors.</summary>
    private static async Task Exercise(McpClient client)
    {
        IList<McpClientTool> listed = await client.ListToolsAsync();
        Assert.Equal(ExpectedTools, listed.Select(t => t.Name).Order(StringComparer.Ordinal));
        Dictionary<string, Tool> tools = listed.ToDictionary(t => t.Name, t => t.ProtocolTool);
        foreach (Tool tool in tools.Values)
        {
            Assert.NotNull(tool.OutputSchema);
            Assert.NotNull(tool.Annotations?.ReadOnlyHint);
            Assert.NotNull(tool.Annotations?.DestructiveHint);
            Assert.NotNull(tool.Annotations?.IdempotentHint);

            // Arguments are the record's fields at the top level, never wrapped in one "request" object.
            Assert.False(tool.InputSchema.GetProperty("properties").TryGetProperty("request", out _), tool.Name);
        }

        Assert.True(tools["attention"].Annotations!.ReadOnlyHint);
        Assert.True(tools["workspace_delete"].Annotations!.DestructiveHint);
        Assert.False(tools["run_model"].Annotations!.IdempotentHint);

        // Tools whose description says every field has a default require none.
        Assert.False(tools["lookup"].InputSchema.TryGetProperty("required", out _));
        Assert.False(tools["explain"].InputSchema.TryGetProperty("required", out _));
        Assert.Equal(["prompt"], tools["run_model"].InputSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));

        JsonNode attention = await Call(client, tools, "attention", new { q = Eye, k = Eye, v = Eye, scale = 1.0 });
        double w = Math.E / (Math.E + 1);
        Assert.Equal(w, ServerHarness.Doubles(attention["output"]!["data"])[0], 12);
        Assert.Null(attention["qkMatmulOutput"]); // left out when not asked for, which the schema allows
        JsonNode withScores = await Call(client, tools, "attention", new { q = Eye, k = Eye, v = Eye, qkMatmulOutputMode = 0 });
        Assert.NotNull(withScores["qkMatmulOutput"]);

        JsonNode mha = await Call(client, tools, "multi_head_attention", new { x = Eye2, wq = Eye2, wk = Eye2, wv = Eye2, numHeads = 1 });
        Assert.Equal(new[] { 2, 2 }, mha["output"]!["shape"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Null(mha["weights"]);

        JsonNode explain = await Call(client, tools, "explain", new { });
        Assert.Equal(1.0644, ServerHarness.Doubles(explain["focusOutput"])[0], 4);

        // The CLI's options: own input, causal, focus, reference comparison, and pictures and the HTML report, which come
        // after the JSON as an image and embedded resources, not inside it.
        var ownArgs = new { tokens = new[] { "a", "b" }, embeddings = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } }, wq = Eye2Rows, wk = Eye2Rows, wv = Eye2Rows, causal = true, focus = "b", reference = true, pictures = new[] { "Network", "Heatmap" }, pictureFormat = "Png", report = true };
        CallToolResult ownResult = await client.CallToolAsync("explain", Args(ownArgs));
        AssertValid(tools["explain"], ownResult);
        JsonNode own = JsonNode.Parse(ownResult.StructuredContent!.Value.GetRawText())!;
        Assert.Equal(0.0, ServerHarness.Matrix(own["weights"])[0][1]);
        Assert.True(own["referenceCheck"]!["max"]!.GetValue<double>() < 1e-6);
        Assert.Null(own["pictures"]);
        Assert.Null(own["report"]);
        ImageContentBlock[] images = ownResult.Content.OfType<ImageContentBlock>().ToArray();
        Assert.Equal(2, images.Length);
        Assert.All(images, i => PictureChecks.AssertPng(i.DecodedData.ToArray()));
        TextResourceContents html = (TextResourceContents)ownResult.Content.OfType<EmbeddedResourceBlock>().Single().Resource;
        Assert.Equal("text/html", html.MimeType);
        Assert.StartsWith("<!DOCTYPE html>", html.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("base64", ((TextContentBlock)ownResult.Content[0]).Text, StringComparison.Ordinal);

        JsonNode lookup = await Call(client, tools, "lookup", new { queryVector = new[] { 1.0 }, keyVectors = new[] { new[] { 1.0 }, new[] { 0.0 } }, values = new[] { 1.0, 0.0 } });
        Assert.Equal(w, lookup["blended"]!.GetValue<double>(), 12);
        JsonNode seedLookup = await Call(client, tools, "lookup", new { });
        Assert.Equal(["apple", "banana", "chair"], seedLookup["keys"]!.AsArray().Select(k => k!.GetValue<string>()));

        JsonNode models = await Call(client, tools, "list_models", new { });
        Assert.Equal("seed-cat-sat", models["models"]![0]!["id"]!.GetValue<string>());
        Assert.Equal("encoder", models["models"]!.AsArray().Single(m => m!["id"]!.GetValue<string>() == TestModels.Encoder)!["kind"]!.GetValue<string>());

        // embed and generate on the models folder: an encoder's vectors, stories260K's greedy text.
        JsonNode embedded = await Call(client, tools, "embed", new { model = TestModels.Encoder, texts = new[] { "the cat sat", "the mat" }, pooling = "cls" });
        Assert.Equal(2, embedded["embeddings"]!.AsArray().Count);
        Assert.Equal(1.0, Math.Sqrt(ServerHarness.Doubles(embedded["embeddings"]![0]).Sum(v => v * v)), 5);
        Assert.Equal(["[CLS]", "the", "mat", "[SEP]"], embedded["tokens"]![1]!.AsArray().Select(t => t!.GetValue<string>()));
        JsonNode generated = await Call(client, tools, "generate", new { model = TestModels.Llama2c, prompt = "", maxTokens = 12 });
        Assert.Equal(12, generated["tokens"]!.GetValue<int>());
        Assert.StartsWith(generated["text"]!.GetValue<string>(), TestModels.GreedyFromEmptyPrompt(), StringComparison.Ordinal);
        JsonNode chatted = await Call(client, tools, "generate", new { model = TestModels.Gguf, messages = new[] { new { role = "user", content = "Once upon a time" } }, maxTokens = 4, stop = new[] { "." } });
        Assert.Equal("Plain", chatted["chatFormat"]!.GetValue<string>());
        JsonNode config = await Call(client, tools, "model_config", new { id = "seed-cat-sat" });
        Assert.Equal(2, config["width"]!.GetValue<int>());
        Assert.Equal("toy", config["architecture"]!.GetValue<string>());

        // Progress is collected by a session-wide handler, which also sees notifications handled after the call's result;
        // the per-call IProgress only makes the client send a progress token.
        var progress = new ConcurrentQueue<ProgressNotificationValue>();
        await using IAsyncDisposable listener = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
        {
            ProgressNotificationParams? p = JsonSerializer.Deserialize<ProgressNotificationParams>(notification.Params!.ToJsonString());
            if (p is not null) progress.Enqueue(p.Progress);
            return ValueTask.CompletedTask;
        });
        CallToolResult runResult = await client.CallToolAsync("run_model", Args(new { prompt = "The cat sat on the mat" }), new Progress<ProgressNotificationValue>(_ => { }));
        AssertValid(tools["run_model"], runResult);
        JsonNode outcome = JsonNode.Parse(runResult.StructuredContent!.Value.GetRawText())!;
        string runId = outcome["status"]!["id"]!.GetValue<string>();
        Assert.Equal("Succeeded", outcome["status"]!["state"]!.GetValue<string>());
        Assert.Contains("\"cat\" attends most to", outcome["summary"]![1]!.GetValue<string>(), StringComparison.Ordinal);

        // The answer is a few kilobytes: the report, HTML and pictures are resource links, not inline JSON.
        Assert.True(JsonSerializer.Serialize(runResult, McpJsonUtilities.DefaultOptions).Length < 6000, $"run_model's answer is {JsonSerializer.Serialize(runResult, McpJsonUtilities.DefaultOptions).Length} bytes");
        ResourceLinkBlock[] links = runResult.Content.OfType<ResourceLinkBlock>().ToArray();
        Assert.Contains(links, l => l.Uri == $"heed://runs/{runId}/report" && l.MimeType == "application/json");
        Assert.Contains(links, l => l.Uri == $"heed://runs/{runId}/report.html" && l.MimeType == "text/html");
        Assert.Contains(links, l => l.Uri == $"heed://runs/{runId}/pictures/model-view.png" && l.MimeType == "image/png");
        foreach (ResourceLinkBlock link in links)
        {
            Assert.NotEmpty((await client.ReadResourceAsync(link.Uri)).Contents);
        }

        for (int i = 0; i < 50 && (progress.IsEmpty || progress.Max(p => p.Progress) < progress.First().Total); i++) await Task.Delay(20);
        ProgressNotificationValue[] steps = progress.ToArray();
        Assert.NotEmpty(steps);
        Assert.All(steps, s => Assert.True(s.Total > 0, "every progress notification carries its total"));
        Assert.Equal(steps[0].Total, steps.Max(s => s.Progress));

        // The C# client hands each notification to its handlers on its own task, so they may arrive here out of order;
        // the server's order (strictly increasing) is checked through the TypeScript client, which keeps it. Here: no value twice.
        Assert.Equal(steps.Length, steps.Select(s => s.Progress).Distinct().Count());

        // train: the tiny training's status, with the loss curve and the best head's attention as PNG images after the JSON.
        CallToolResult trained = await client.CallToolAsync("train", Args(new { steps = 5, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8, seed = 5 }));
        AssertValid(tools["train"], trained);
        JsonNode training = JsonNode.Parse(trained.StructuredContent!.Value.GetRawText())!;
        string trainingId = training["id"]!.GetValue<string>();
        Assert.Equal("Succeeded", training["state"]!.GetValue<string>());
        Assert.Equal(5, training["losses"]!.AsArray().Count);
        Assert.Equal("trained-" + trainingId, training["model"]!.GetValue<string>());
        Assert.Equal(2, trained.Content.OfType<ImageContentBlock>().Count(i => i.MimeType == "image/png"));
        JsonNode again = await Call(client, tools, "get_training", new { id = trainingId });
        Assert.True(JsonNode.DeepEquals(training["losses"], again["losses"]));
        Assert.Equal("Succeeded", (await Call(client, tools, "cancel_training", new { id = trainingId }))["state"]!.GetValue<string>());

        // resume_training: a new training from the checkpoint at step 5 to step 8, the same losses as 8 steps from the start.
        CallToolResult resumed = await client.CallToolAsync("resume_training", Args(new { id = trainingId, steps = 8 }));
        AssertValid(tools["resume_training"], resumed);
        JsonNode continued = JsonNode.Parse(resumed.StructuredContent!.Value.GetRawText())!;
        Assert.Equal("Succeeded", continued["state"]!.GetValue<string>());
        Assert.Equal(trainingId, continued["resumedFrom"]!["training"]!.GetValue<string>());
        Assert.Equal(5, continued["resumedFrom"]!["step"]!.GetValue<int>());
        Assert.Equal(2, resumed.Content.OfType<ImageContentBlock>().Count(i => i.MimeType == "image/png"));
        JsonNode straight = await Call(client, tools, "train", new { steps = 8, batchSize = 2, layers = 1, heads = 1, width = 8, context = 8, seed = 5 });
        Assert.True(JsonNode.DeepEquals(straight["losses"], continued["losses"]), "the resumed training's losses are not those of the uninterrupted one");

        JsonNode status = await Call(client, tools, "get_run", new { id = runId });
        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        Assert.Null(status["error"]);
        Assert.Equal(6, (await Call(client, tools, "get_run_report", new { id = runId }))["explanation"]!["steps"]!.AsArray().Count);
        JsonNode everyLayer = await Call(client, tools, "get_run_report", new { id = runId, allLayers = true });
        Assert.Contains(everyLayer["pictures"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "heatmap-layer0");
        Assert.EndsWith("?allLayers=true", everyLayer["html"]!.GetValue<string>(), StringComparison.Ordinal);
        JsonNode weights = await Call(client, tools, "get_attention_weights", new { id = runId, layer = 0, head = 0 });
        Assert.Equal(6, weights["weights"]!.AsArray().Count);
        JsonNode walked = await Call(client, tools, "explain_run_head", new { id = runId, layer = 0, head = 0, position = 2 });
        Assert.Equal(2, walked["focusIndex"]!.GetValue<int>());
        Assert.Equal(6, walked["k"]!.AsArray().Count);

        CallToolResult modelView = await client.CallToolAsync("get_run_picture", Args(new { id = runId, picture = "ModelView" }));
        AssertValid(tools["get_run_picture"], modelView);
        Assert.Equal("image/svg+xml", modelView.StructuredContent!.Value.GetProperty("mediaType").GetString());
        var svg = (TextResourceContents)modelView.Content.OfType<EmbeddedResourceBlock>().Single().Resource;
        Assert.Equal($"heed://runs/{runId}/pictures/model-view.svg", svg.Uri);
        Assert.Single(PictureChecks.Svg(svg.Text).Descendants(), e => (string?)e.Attribute("class") == "thumb");
        CallToolResult heatmap = await client.CallToolAsync("get_run_picture", Args(new { id = runId, picture = "Heatmap", layer = 0, head = 0, format = "Png" }));
        AssertValid(tools["get_run_picture"], heatmap);
        PictureChecks.AssertPng(heatmap.Content.OfType<ImageContentBlock>().Single().DecodedData.ToArray());
        Assert.Equal($"heed://runs/{runId}/pictures/heatmap.png?layer=0&head=0", heatmap.StructuredContent!.Value.GetProperty("uri").GetString());
        Assert.Equal("Succeeded", (await Call(client, tools, "cancel_run", new { id = runId }))["state"]!.GetValue<string>()); // a finished run stays as it is

        // Every resource template, read.
        Assert.Equal(ExpectedTemplates, (await client.ListResourceTemplatesAsync()).Select(t => t.UriTemplate).Order(StringComparer.Ordinal));
        ReadResourceResult resource = await client.ReadResourceAsync($"heed://runs/{runId}/layers/0/heads/0");
        JsonNode matrix = JsonNode.Parse(((TextResourceContents)resource.Contents.Single()).Text)!;
        Assert.Equal(ServerHarness.Matrix(weights["weights"]), ServerHarness.Matrix(matrix["weights"]));
        ReadResourceResult reportResource = await client.ReadResourceAsync($"heed://runs/{runId}/report");
        Assert.Contains("\"explanation\"", ((TextResourceContents)reportResource.Contents.Single()).Text, StringComparison.Ordinal);
        ReadResourceResult reportHtml = await client.ReadResourceAsync($"heed://runs/{runId}/report.html");
        Assert.StartsWith("<!DOCTYPE html>", ((TextResourceContents)reportHtml.Contents.Single()).Text, StringComparison.Ordinal);
        var png = (BlobResourceContents)(await client.ReadResourceAsync($"heed://runs/{runId}/pictures/heatmap.png")).Contents.Single();
        Assert.Equal("image/png", png.MimeType);
        PictureChecks.AssertPng(png.DecodedData.ToArray());
        var headView = (TextResourceContents)(await client.ReadResourceAsync($"heed://runs/{runId}/pictures/head-view.svg?layer=0")).Contents.Single();
        Assert.Equal("image/svg+xml", headView.MimeType);
        PictureChecks.Svg(headView.Text);

        await Call(client, tools, "workspace_create", new { name = "m", values = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } } });
        await Call(client, tools, "workspace_update", new { name = "m", rowStart = 0, columnStart = 1, values = new[] { new[] { 5.0 } } });
        JsonNode range = await Call(client, tools, "workspace_get", new { name = "m", rowStart = 0, rowCount = 1 });
        Assert.Equal(new[] { 1.0, 5 }, ServerHarness.Matrix(range["values"])[0]);
        Assert.Single((await Call(client, tools, "workspace_list", new { }))["matrices"]!.AsArray());
        var workspaceMatrix = (TextResourceContents)(await client.ReadResourceAsync("heed://workspace/m")).Contents.Single();
        Assert.Equal(new[] { 1.0, 5 }, ServerHarness.Matrix(JsonNode.Parse(workspaceMatrix.Text)!["values"])[0]);
        CallToolResult analysed = await client.CallToolAsync("workspace_analyse", Args(new { kind = "Attention", q = "m", k = "m", v = "m", chart = "Svg" }));
        AssertValid(tools["workspace_analyse"], analysed);
        var chart = (TextResourceContents)analysed.Content.OfType<EmbeddedResourceBlock>().Single().Resource;
        Assert.Equal(4, PictureChecks.Svg(chart.Text).Descendants().Count(e => (string?)e.Attribute("class") == "cell"));
        CallToolResult analysedPng = await client.CallToolAsync("workspace_analyse", Args(new { kind = "Attention", q = "m", k = "m", v = "m", chart = "Png", outputName = "out" }));
        AssertValid(tools["workspace_analyse"], analysedPng);
        PictureChecks.AssertPng(analysedPng.Content.OfType<ImageContentBlock>().Single().DecodedData.ToArray());
        Assert.Equal("out", analysedPng.StructuredContent!.Value.GetProperty("outputName").GetString());
        await Call(client, tools, "workspace_delete", new { name = "out" });
        await Call(client, tools, "workspace_delete", new { name = "m" });

        // Bad input: a tool result with isError and Heed's one-line message naming the field, for every tool.
        (string Tool, object Args, string Message)[] bad =
        [
            ("attention", new { q = Eye }, "k: required"),
            ("attention", new { q = 5 }, "q: 5; expected an object with the fields shape, dtype, data or npy"),
            ("multi_head_attention", new { x = Eye2, wq = Eye2, wk = Eye2, wv = Eye2, numHeads = "two" }, "numHeads: 'two'; expected an integer"),
            ("explain", new { pictures = new[] { "Nope" } }, "pictures[0]: 'Nope'; expected one of Heatmap, ModelView, HeadView, Network or Rollout"),
            ("explain", new { layer = "x" }, "layer: 'x'; expected an integer"),
            ("lookup", new { colour = "red" }, "colour: not an argument of lookup; expected one of query,"),
            ("lookup", new { values = new object[] { 1, "two" } }, "values[1]: 'two'; expected a number"),
            ("list_models", new { all = true }, "all: not an argument of list_models; this tool takes no arguments"),
            ("model_config", new { }, "id: required; expected a string"),
            ("model_config", new { id = "nope" }, "'nope'"),
            ("run_model", new { }, "prompt: required; expected a string"),
            ("run_model", new { prompt = "The cat", allLayers = "yes" }, "allLayers: 'yes'; expected true or false"),
            ("get_run", new { id = 5 }, "id: 5; expected a string"),
            ("get_run", new { id = "nope" }, "run 'nope': no such run"),
            ("get_run_report", new { id = runId, allLayers = 1 }, "allLayers: 1; expected true or false"),
            ("get_attention_weights", new { id = runId, layer = 0 }, "head: required; expected an integer"),
            ("get_attention_weights", new { id = runId, layer = 0, head = 9 }, "head"),
            ("explain_run_head", new { id = runId, layer = 0, head = 0, position = 6 }, "position: 6; expected 0..5"),
            ("cancel_run", new { }, "id: required"),
            ("get_run_picture", new { id = runId, picture = "Nope" }, "picture: 'Nope'; expected one of Heatmap, ModelView, HeadView, Network or Rollout"),
            ("get_run_picture", new { id = runId, picture = "Heatmap", format = "Gif" }, "format: 'Gif'; expected one of Svg or Png"),
            ("delete_run", new { id = "nope" }, "run 'nope'"),
            ("workspace_list", new { name = "m" }, "name: not an argument of workspace_list"),
            ("workspace_create", new { name = "m", values = new[] { new object[] { 1, "a" } } }, "values[0][1]: 'a'; expected a number"),
            ("workspace_get", new { name = "m", rowStart = 3_000_000_000 }, "rowStart: 3000000000; expected an integer from -2147483648 to 2147483647"),
            ("workspace_update", new { values = new[] { new[] { 1.0 } } }, "name: required"),
            ("workspace_update", new { name = "nope", values = new[] { new[] { 1.0 } } }, "'nope'"),
            ("workspace_delete", new { name = 7 }, "name: 7; expected a string"),
            ("workspace_analyse", new { kind = "Sideways" }, "kind: 'Sideways'; expected one of Attention or Explain"),
            ("train", new { steps = 0 }, "steps: 0; expected 1..2000"),
            ("train", new { task = "poetry" }, "task: 'poetry'; expected seed, induction, induction-shifted or chars"),
            ("train", new { width = "wide" }, "width: 'wide'; expected an integer"),
            ("get_training", new { id = "nope" }, "training 'nope': no such training"),
            ("get_training", new { }, "id: required"),
            ("cancel_training", new { id = 3 }, "id: 3; expected a string"),
            ("resume_training", new { id = "nope" }, "training 'nope': no such training"),
            ("resume_training", new { id = trainingId, steps = 3 }, $"steps: 3; expected 6..2000, the step to stop at (training '{trainingId}' is at step 5)"),
            ("resume_training", new { id = trainingId, steps = "many" }, "steps: 'many'; expected an integer"),
            ("embed", new { model = TestModels.Encoder }, "texts: required"),
            ("embed", new { model = TestModels.Encoder, texts = new[] { "a" }, pooling = "max" }, "pooling: 'max'; expected one of mean, cls or none"),
            ("embed", new { model = TestModels.Llama2c, texts = new[] { "a" } }, $"model '{TestModels.Llama2c}': format llama2c is not an encoder"),
            ("generate", new { model = TestModels.Llama2c, prompt = "a", maxTokens = 0 }, "maxTokens: 0; expected 1 to"),
            ("generate", new { model = TestModels.Llama2c, messages = new[] { new { role = "robot", content = "a" } } }, "messages[0].role: 'robot'; expected one of system, user or assistant"),
            ("generate", new { model = TestModels.Encoder, prompt = "a" }, "is not a decoder"),
        ];
        Assert.Equal(ExpectedTools, bad.Select(b => b.Tool).Distinct().Order(StringComparer.Ordinal));
        foreach ((string tool, object args, string message) in bad)
        {
            CallToolResult result = await CallRaw(client, tool, args);
            Assert.True(result.IsError == true, $"{tool} {JsonSerializer.Serialize(args)}: no error");
            string text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
            Assert.True(text.Contains(message, StringComparison.Ordinal), $"{tool} {JsonSerializer.Serialize(args)}: '{text}' does not say '{message}'");
            Assert.DoesNotContain("An error occurred", text, StringComparison.Ordinal);
            Assert.Null(result.StructuredContent);
        }

        Assert.Equal("run " + runId, (await Call(client, tools, "delete_run", new { id = runId }))["what"]!.GetValue<string>());

        // Protocol errors: arguments that are not an object, an unknown resource, a prompt without its required argument.
        McpProtocolException notAnObject = await Assert.ThrowsAsync<McpProtocolException>(() => client.SendRequestAsync(
            new JsonRpcRequest { Method = RequestMethods.ToolsCall, Params = JsonNode.Parse("""{"name": "lookup", "arguments": [1, 2]}""") }));
        Assert.Equal(McpErrorCode.InvalidParams, notAnObject.ErrorCode);
        Assert.Contains("arguments: [1,2]; expected an object", notAnObject.Message, StringComparison.Ordinal);
        McpProtocolException unknownTool = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("nope").AsTask());
        Assert.Equal(McpErrorCode.InvalidParams, unknownTool.ErrorCode);
        McpProtocolException gone = await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync($"heed://runs/{runId}/report").AsTask());
        Assert.Equal(McpErrorCode.ResourceNotFound, gone.ErrorCode);
        Assert.Contains($"run '{runId}'", gone.Message, StringComparison.Ordinal);
        McpProtocolException unknownMatrix = await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync("heed://workspace/nope").AsTask());
        Assert.Equal(McpErrorCode.ResourceNotFound, unknownMatrix.ErrorCode);

        GetPromptResult prompt = await client.GetPromptAsync("explain_sentence", new Dictionary<string, object?> { ["sentence"] = "The dog barked" });
        Assert.Contains("The dog barked", ((TextContentBlock)prompt.Messages.Single().Content).Text, StringComparison.Ordinal);
        McpProtocolException noSentence = await Assert.ThrowsAsync<McpProtocolException>(() => client.GetPromptAsync("explain_sentence", new Dictionary<string, object?>()).AsTask());
        Assert.Equal(McpErrorCode.InvalidParams, noSentence.ErrorCode);
        Assert.Contains("sentence: required", noSentence.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_streamable_http_every_tool_keeps_its_contract()
    {
        string models = TestModels.Folder();
        await using (ServerHarness h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = models }))
        await using (McpClient client = await HttpClientFor(h))
        {
            Assert.Equal("heed", client.ServerInfo?.Name);
            await Exercise(client);
        }

        Directory.Delete(models, true);
    }

    [Fact]
    public async Task Over_stdio_heed_mcp_every_tool_keeps_its_contract()
    {
        string home = ServerHarness.NewFolder();
        string models = TestModels.Folder();
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "heed",
            Command = "dotnet",
            Arguments = [HostingTests.HeedDll, "mcp", "--workspace", Path.Combine(home, "ws"), "--models", models],
            EnvironmentVariables = new Dictionary<string, string?> { ["HOME"] = home, ["XDG_RUNTIME_DIR"] = Path.Combine(home, "run") },
        });
        await using (McpClient client = await McpClient.CreateAsync(transport))
        {
            await Exercise(client);
        }

        Directory.Delete(home, true);
        Directory.Delete(models, true);
    }

    [Fact]
    public async Task The_mcp_endpoint_needs_the_token()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(h.Server.Url, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp });
        await Assert.ThrowsAnyAsync<Exception>(async () => await McpClient.CreateAsync(transport));
    }

    [Fact]
    public async Task Over_http_listing_answers_while_computations_wait_and_a_computing_tool_waits_for_its_slot()
    {
        // The limit is long enough for the call after the slot is freed to finish on a loaded CI machine (the test projects run
        // side by side there), and every call that waits it out costs the test that much.
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxConcurrentComputations = 1, RequestTimeout = TimeSpan.FromSeconds(5) } });
        await using McpClient client = await HttpClientFor(h);
        using (await AdmissionTests.HoldComputationSlot(h))
        {
            // tools/list, a model's configuration and a resource read are not computations: they answer although no slot is free.
            Assert.Contains(await client.ListToolsAsync(), t => t.Name == "attention");
            Assert.True((await CallRaw(client, "model_config", new { id = "seed-cat-sat" })).IsError != true);

            // A tool that computes waits for the slot like a REST computation, and past the time limit it is a one-line error.
            CallToolResult late = await CallRaw(client, "attention", new { q = Eye, k = Eye, v = Eye });
            Assert.True(late.IsError);
            Assert.Contains("took longer", Assert.IsType<TextContentBlock>(Assert.Single(late.Content)).Text, StringComparison.Ordinal);
        }

        CallToolResult ran = await CallRaw(client, "attention", new { q = Eye, k = Eye, v = Eye });
        Assert.True(ran.IsError != true, string.Join(" ", ran.Content.OfType<TextContentBlock>().Select(t => t.Text)));
    }
}
