using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Heed.Server.Tests;

/// <summary>MCP through the SDK's own client, over Streamable HTTP at /mcp and over stdio (heed mcp).</summary>
public sealed class McpTests
{
    private static readonly string[] ExpectedTools =
    [
        "attention", "cancel_run", "delete_run", "explain", "get_attention_weights", "get_run", "get_run_picture", "get_run_report", "list_models", "lookup", "model_config",
        "multi_head_attention", "run_model", "workspace_analyse", "workspace_create", "workspace_delete", "workspace_get", "workspace_list", "workspace_update",
    ];

    private static Dictionary<string, object?> Args(object value) =>
        JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(value))!;

    private static async Task<McpClient> HttpClientFor(ServerHarness h) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(h.Server.Url, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {ServerHarness.Token}" },
        }));

    private static async Task<JsonNode> Call(McpClient client, string tool, object args, IProgress<ProgressNotificationValue>? progress = null)
    {
        CallToolResult result = await client.CallToolAsync(tool, Args(args), progress);
        Assert.True(result.IsError != true, $"{tool}: {string.Join(' ', result.Content.OfType<TextContentBlock>().Select(t => t.Text))}");
        Assert.NotNull(result.StructuredContent);
        return JsonNode.Parse(result.StructuredContent.Value.GetRawText())!;
    }

    /// <summary>Lists the tools, calls every one with good input and one with bad input, reads resources and the prompt.</summary>
    private static async Task Exercise(McpClient client)
    {
        IList<McpClientTool> tools = await client.ListToolsAsync();
        Assert.Equal(ExpectedTools, tools.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (McpClientTool tool in tools)
        {
            Assert.NotNull(tool.ProtocolTool.OutputSchema);
            Assert.NotNull(tool.ProtocolTool.Annotations?.ReadOnlyHint);
            Assert.NotNull(tool.ProtocolTool.Annotations?.DestructiveHint);
            Assert.NotNull(tool.ProtocolTool.Annotations?.IdempotentHint);
        }

        Assert.True(tools.Single(t => t.Name == "attention").ProtocolTool.Annotations!.ReadOnlyHint);
        Assert.True(tools.Single(t => t.Name == "workspace_delete").ProtocolTool.Annotations!.DestructiveHint);
        Assert.False(tools.Single(t => t.Name == "run_model").ProtocolTool.Annotations!.IdempotentHint);

        var eye = new { shape = new[] { 1, 1, 2, 2 }, dtype = "float64", data = new double[] { 1, 0, 0, 1 } };
        JsonNode attention = await Call(client, "attention", new { request = new { q = eye, k = eye, v = eye, scale = 1.0 } });
        double w = Math.E / (Math.E + 1);
        Assert.Equal(w, ServerHarness.Doubles(attention["output"]!["data"])[0], 12);

        var eye2 = new { shape = new[] { 2, 2 }, dtype = "float64", data = new double[] { 1, 0, 0, 1 } };
        double[][] eye2Rows = [[1, 0], [0, 1]];
        JsonNode mha = await Call(client, "multi_head_attention", new { request = new { x = eye2, wq = eye2, wk = eye2, wv = eye2, numHeads = 1 } });
        Assert.Equal(new[] { 2, 2 }, mha["output"]!["shape"]!.AsArray().Select(n => n!.GetValue<int>()));

        JsonNode explain = await Call(client, "explain", new { request = new { } });
        Assert.Equal(1.0644, ServerHarness.Doubles(explain["focusOutput"])[0], 4);
        // The CLI's options: own input, causal, focus, reference comparison and pictures.
        JsonNode own = await Call(client, "explain", new { request = new { tokens = new[] { "a", "b" }, embeddings = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } }, wq = eye2Rows, wk = eye2Rows, wv = eye2Rows, causal = true, focus = "b", reference = true, pictures = new[] { "Network" }, pictureFormat = "Png" } });
        Assert.Equal(0.0, ServerHarness.Matrix(own["weights"])[0][1]);
        Assert.True(own["referenceCheck"]!["max"]!.GetValue<double>() < 1e-6);
        PictureChecks.AssertPng(Convert.FromBase64String(own["pictures"]![0]!["data"]!.GetValue<string>()));

        JsonNode lookup = await Call(client, "lookup", new { request = new { queryVector = new[] { 1.0 }, keyVectors = new[] { new[] { 1.0 }, new[] { 0.0 } }, values = new[] { 1.0, 0.0 } } });
        Assert.Equal(w, lookup["blended"]!.GetValue<double>(), 12);
        JsonNode seedLookup = await Call(client, "lookup", new { request = new { } });
        Assert.Equal(["apple", "banana", "chair"], seedLookup["keys"]!.AsArray().Select(k => k!.GetValue<string>()));

        JsonNode models = await Call(client, "list_models", new { });
        Assert.Equal("seed-cat-sat", models["models"]![0]!["id"]!.GetValue<string>());
        JsonNode config = await Call(client, "model_config", new { id = "seed-cat-sat" });
        Assert.Equal(2, config["config"]!["width"]!.GetValue<int>());

        // Progress arrives through the per-call IProgress (which also makes the client send a progress token) and, in case the
        // call's result is handled first, through a session-wide handler that outlives the call.
        var progress = new ConcurrentQueue<ProgressNotificationValue>();
        await using IAsyncDisposable listener = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
        {
            ProgressNotificationParams? p = JsonSerializer.Deserialize<ProgressNotificationParams>(notification.Params!.ToJsonString());
            if (p is not null) progress.Enqueue(p.Progress);
            return ValueTask.CompletedTask;
        });
        JsonNode report = await Call(client, "run_model", new { prompt = "The cat sat on the mat" }, new Progress(progress));
        string runId = report["status"]!["id"]!.GetValue<string>();
        Assert.Equal("cat", report["explanation"]!["focus"]!.GetValue<string>());
        JsonNode status = await Call(client, "get_run", new { id = runId });
        Assert.Equal("Succeeded", status["state"]!.GetValue<string>());
        Assert.Equal(6, (await Call(client, "get_run_report", new { id = runId }))["explanation"]!["steps"]!.AsArray().Count);
        JsonNode everyLayer = await Call(client, "get_run_report", new { id = runId, allLayers = true });
        Assert.Contains(everyLayer["pictures"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "heatmap-layer0");
        Assert.EndsWith("?allLayers=true", everyLayer["html"]!.GetValue<string>(), StringComparison.Ordinal);
        JsonNode weights = await Call(client, "get_attention_weights", new { id = runId, layer = 0, head = 0 });
        Assert.Equal(6, weights["weights"]!.AsArray().Count);

        ReadResourceResult resource = await client.ReadResourceAsync($"heed://runs/{runId}/layers/0/heads/0");
        JsonNode matrix = JsonNode.Parse(((TextResourceContents)resource.Contents.Single()).Text)!;
        Assert.Equal(ServerHarness.Matrix(weights["weights"]), ServerHarness.Matrix(matrix["weights"]));
        ReadResourceResult reportResource = await client.ReadResourceAsync($"heed://runs/{runId}/report");
        Assert.Contains("\"explanation\"", ((TextResourceContents)reportResource.Contents.Single()).Text, StringComparison.Ordinal);
        Assert.Contains((await client.ListResourceTemplatesAsync()).Select(t => t.UriTemplate), u => u == "heed://runs/{id}/report");
        ReadResourceResult html = await client.ReadResourceAsync($"heed://runs/{runId}/report.html");
        Assert.StartsWith("<!DOCTYPE html>", ((TextResourceContents)html.Contents.Single()).Text, StringComparison.Ordinal);
        JsonNode modelView = await Call(client, "get_run_picture", new { id = runId, picture = "ModelView" });
        Assert.Equal("image/svg+xml", modelView["mediaType"]!.GetValue<string>());
        Assert.Single(PictureChecks.Svg(modelView["data"]!.GetValue<string>()).Descendants(), e => (string?)e.Attribute("class") == "thumb");
        Assert.Equal("Succeeded", (await Call(client, "cancel_run", new { id = runId }))["state"]!.GetValue<string>()); // a finished run stays as it is

        Assert.Equal("Deleted", (await Call(client, "delete_run", new { id = runId }))["what"]!.GetValue<string>()[..3] == "run" ? "Deleted" : "x");

        await Call(client, "workspace_create", new { request = new { name = "m", values = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } } } });
        await Call(client, "workspace_update", new { name = "m", request = new { rowStart = 0, columnStart = 1, values = new[] { new[] { 5.0 } } } });
        JsonNode range = await Call(client, "workspace_get", new { name = "m", rowStart = 0, rowCount = 1 });
        Assert.Equal(new[] { 1.0, 5 }, ServerHarness.Matrix(range["values"])[0]);
        Assert.Single((await Call(client, "workspace_list", new { }))["matrices"]!.AsArray());
        JsonNode analysed = await Call(client, "workspace_analyse", new { request = new { kind = "Attention", q = "m", k = "m", v = "m", chart = "Svg" } });
        Assert.Equal(4, PictureChecks.Svg(analysed["chart"]!["data"]!.GetValue<string>()).Descendants().Count(e => (string?)e.Attribute("class") == "cell"));
        await Call(client, "workspace_delete", new { name = "m" });

        // Bad input is a tool error with the one-line message, not a protocol failure.
        CallToolResult bad = await client.CallToolAsync("attention", Args(new { request = new { q = eye } }));
        Assert.True(bad.IsError);
        Assert.Contains("k: required", bad.Content.OfType<TextContentBlock>().Single().Text, StringComparison.Ordinal);
        CallToolResult missing = await client.CallToolAsync("get_run", Args(new { id = "nope" }));
        Assert.True(missing.IsError);

        GetPromptResult prompt = await client.GetPromptAsync("explain_sentence", new Dictionary<string, object?> { ["sentence"] = "The dog barked" });
        Assert.Contains("The dog barked", ((TextContentBlock)prompt.Messages.Single().Content).Text, StringComparison.Ordinal);

        // The SDK delivers progress best-effort: at least one notification, no exact count.
        for (int i = 0; i < 50 && progress.IsEmpty; i++) await Task.Delay(20);
        Assert.NotEmpty(progress);
    }

    private sealed class Progress(ConcurrentQueue<ProgressNotificationValue> seen) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => seen.Enqueue(value);
    }

    [Fact]
    public async Task Over_streamable_http_every_tool_works_and_bad_input_is_an_error_result()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await using McpClient client = await HttpClientFor(h);
        Assert.Equal("heed", client.ServerInfo?.Name);
        await Exercise(client);
    }

    [Fact]
    public async Task Over_stdio_heed_mcp_serves_the_same_tools()
    {
        string home = ServerHarness.NewFolder();
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "heed",
            Command = "dotnet",
            Arguments = [HostingTests.HeedDll, "mcp", "--workspace", Path.Combine(home, "ws")],
            EnvironmentVariables = new Dictionary<string, string?> { ["HOME"] = home, ["XDG_RUNTIME_DIR"] = Path.Combine(home, "run") },
        });
        await using (McpClient client = await McpClient.CreateAsync(transport))
        {
            await Exercise(client);
        }

        Directory.Delete(home, true);
    }

    [Fact]
    public async Task The_mcp_endpoint_needs_the_token()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(h.Server.Url, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp });
        await Assert.ThrowsAnyAsync<Exception>(async () => await McpClient.CreateAsync(transport));
    }
}
