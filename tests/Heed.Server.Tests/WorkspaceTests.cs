using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Heed.Server.Tests;

/// <summary>The workspace of named matrices: create, read and write ranges, list, delete, analyse, and persist across a restart.</summary>
public sealed class WorkspaceTests
{
    private const string Matrices = "/api/v1/workspace/matrices";

    [Fact]
    public async Task Matrices_are_read_and_written_like_a_spreadsheet()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        JsonNode created = await h.PostJson(Matrices, new { name = "grid", rows = 3, columns = 4, fill = 1.5, metadata = new Dictionary<string, string> { ["unit"] = "m" } }, 201);
        Assert.Equal(4, created["columns"]!.GetValue<int>());
        using (HttpResponseMessage patch = await h.Client.PatchAsJsonAsync($"{Matrices}/grid", new { rowStart = 1, columnStart = 2, values = new[] { new[] { 7.0, 8 }, new[] { 9.0, 10 } }, metadata = new Dictionary<string, string> { ["note"] = "edited" } }))
        {
            Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        }

        JsonNode range = await h.GetJson($"{Matrices}/grid?rowStart=1&rowCount=2&columnStart=1");
        Assert.Equal(new[] { new[] { 1.5, 7, 8 }, new[] { 1.5, 9, 10 } }, ServerHarness.Matrix(range["values"]));
        JsonNode list = await h.GetJson(Matrices);
        JsonNode info = list["matrices"]!.AsArray().Single()!;
        Assert.Equal(3, info["rows"]!.GetValue<int>());
        Assert.Equal("m", info["metadata"]!["unit"]!.GetValue<string>());
        Assert.Equal("edited", info["metadata"]!["note"]!.GetValue<string>());
        Assert.False(list["persisted"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.NoContent, (await h.Client.DeleteAsync(new Uri($"{Matrices}/grid", UriKind.Relative))).StatusCode);
        await ServerHarness.AssertProblem(await h.Client.GetAsync(new Uri($"{Matrices}/grid", UriKind.Relative)), 404, "no such matrix");
    }

    [Theory]
    [InlineData("{\"name\":\"a\",\"values\":[[1,2],[3]]}", 400, "values: row 1")]
    [InlineData("{\"name\":\"../x\",\"values\":[[1]]}", 400, "name:")]
    [InlineData("{\"name\":\"a\"}", 400, "values: give values")]
    [InlineData("{\"name\":\"taken\",\"values\":[[1]]}", 409, "exists")]
    [InlineData("{\"name\":\"a\",\"rows\":5000,\"columns\":1}", 400, "sequence length limit")]
    public async Task Bad_creations_are_problems(string body, int status, string detail)
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await h.PostJson(Matrices, new { name = "taken", values = new[] { new[] { 0.0 } } }, 201);
        await ServerHarness.AssertProblem(await h.PostRaw(Matrices, body), status, detail);
    }

    [Fact]
    public async Task Ranges_outside_the_matrix_are_400()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await h.PostJson(Matrices, new { name = "m", rows = 2, columns = 2 }, 201);
        await ServerHarness.AssertProblem(await h.Client.GetAsync(new Uri($"{Matrices}/m?rowStart=1&rowCount=2", UriKind.Relative)), 400, "rows: 1..3");
        await ServerHarness.AssertProblem(await h.Client.PatchAsJsonAsync($"{Matrices}/m", new { columnStart = 1, values = new[] { new[] { 1.0, 2 } } }), 400, "columns: 1..3");
    }

    [Fact]
    public async Task The_workspace_holds_at_most_the_limit()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxMatrices = 2 } });
        await h.PostJson(Matrices, new { name = "a", values = new[] { new[] { 0.0 } } }, 201);
        await h.PostJson(Matrices, new { name = "b", values = new[] { new[] { 0.0 } } }, 201);
        await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync(Matrices, new { name = "c", values = new[] { new[] { 0.0 } } }), 400, "limit");
    }

    [Fact]
    public async Task Analyse_runs_attention_and_explain_on_named_matrices_and_returns_a_chart()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        double[][] e = [[1, 0], [0, 1], [1, 1], [0, -1], [1, 0], [0, 1]];
        await h.PostJson(Matrices, new { name = "E", values = e, metadata = new Dictionary<string, string> { ["tokens"] = "The,cat,sat,on,the,mat" } }, 201);
        await h.PostJson(Matrices, new { name = "WQ", values = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } } }, 201);
        await h.PostJson(Matrices, new { name = "WK", values = new[] { new[] { 0.0, 1 }, new[] { 1.0, 0 } } }, 201);
        await h.PostJson(Matrices, new { name = "WV", values = new[] { new[] { 1.0, 1 }, new[] { 1.0, -1 } } }, 201);
        JsonNode explained = await h.PostJson("/api/v1/workspace/analyse", new { kind = "Explain", embeddings = "E", wq = "WQ", wk = "WK", wv = "WV", scale = 1.0, focus = "cat", outputName = "out", chart = "Png" });
        double hi = Math.E / ((3 * Math.E) + 3);
        Assert.Equal(hi, ServerHarness.Matrix(explained["weights"])[1][0], 12);
        Assert.Equal("image/png", explained["chart"]!["mediaType"]!.GetValue<string>());
        PictureChecks.AssertPng(Convert.FromBase64String(explained["chart"]!["data"]!.GetValue<string>()));
        Assert.Equal(6, explained["explanation"]!["steps"]!.AsArray().Count);
        JsonNode stored = await h.GetJson($"{Matrices}/out?rowStart=1&rowCount=1");
        Assert.Equal(ServerHarness.Matrix(explained["output"])[1], ServerHarness.Matrix(stored["values"])[0]);

        // Attention on Q = K = V = E with a causal mask: row 0 can only see itself.
        JsonNode attended = await h.PostJson("/api/v1/workspace/analyse", new { kind = "Attention", q = "E", k = "E", v = "E", isCausal = true });
        Assert.Equal(new[] { 1.0, 0, 0, 0, 0, 0 }, ServerHarness.Matrix(attended["weights"])[0]);
        System.Xml.Linq.XElement chart = PictureChecks.Svg(attended["chart"]!["data"]!.GetValue<string>());
        Assert.Equal(36, chart.Descendants().Count(x => (string?)x.Attribute("class") == "cell"));
        await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/workspace/analyse", new { kind = "Attention", q = "E", k = "nope", v = "E" }), 404, "'nope'");
    }

    [Fact]
    public async Task The_workspace_survives_a_restart()
    {
        string folder = ServerHarness.NewFolder();
        string workspace = Path.Combine(folder, "ws");
        await using (ServerHarness first = await ServerHarness.StartAsync(o => o with { WorkspaceDirectory = workspace }, ServerHarness.NewFolder()))
        {
            await first.PostJson(Matrices, new { name = "kept", values = new[] { new[] { 1.25, -2 }, new[] { 3.0, 4 } }, metadata = new Dictionary<string, string> { ["why"] = "restart" } }, 201);
            await first.Client.PatchAsJsonAsync($"{Matrices}/kept", new { rowStart = 1, values = new[] { new[] { 30.0, 40 } } });
            await first.PostJson(Matrices, new { name = "gone", values = new[] { new[] { 0.0 } } }, 201);
            await first.Client.DeleteAsync(new Uri($"{Matrices}/gone", UriKind.Relative));
        }

        await using ServerHarness second = await ServerHarness.StartAsync(o => o with { WorkspaceDirectory = workspace }, ServerHarness.NewFolder());
        JsonNode list = await second.GetJson(Matrices);
        Assert.Equal("kept", list["matrices"]!.AsArray().Single()!["name"]!.GetValue<string>());
        Assert.Equal("restart", list["matrices"]![0]!["metadata"]!["why"]!.GetValue<string>());
        Assert.True(list["persisted"]!.GetValue<bool>());
        Assert.Equal(new[] { new[] { 1.25, -2 }, new[] { 30.0, 40 } }, ServerHarness.Matrix((await second.GetJson($"{Matrices}/kept"))["values"]));
        Directory.Delete(folder, true);
    }
}
