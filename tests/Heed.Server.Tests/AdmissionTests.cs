using System.Net;
using System.Net.Http.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server.Tests;

/// <summary>Fair and bounded under load: cheap reads never wait behind computations, and no computation waits past the time limit.</summary>
[Collection(TimingSensitive.Name)]
public sealed class AdmissionTests
{
    /// <summary>Every read that is answered from memory: none of them may queue behind a computation.</summary>
    public static TheoryData<string> CheapReads => new(CheapPaths);

    private static readonly string[] CheapPaths =
    [
        "/api/v1", "/api/v1/health", "/api/v1/capabilities", "/api/v1/models", "/api/v1/models/seed-cat-sat", "/api/v1/models/seed-cat-sat/config",
        "/openapi/v1.json", "/", "/api/v1/runs", "/api/v1/workspace/matrices",
    ];

    /// <summary>Takes a computation slot the way a request does, and holds it until disposed.</summary>
    internal static async Task<RateLimitLease> HoldComputationSlot(ServerHarness h)
    {
        Admission admission = h.Server.Services.GetRequiredService<Admission>();
        return await admission.EnterComputationAsync(new DefaultHttpContext()) ?? throw new InvalidOperationException("no computation slot free");
    }

    private static object TinyAttention()
    {
        var t = new { shape = new[] { 1, 1, 2, 2 }, data = new[] { 0.1, 0.2, 0.3, 0.4 } };
        return new { q = t, k = t, v = t };
    }

    [Fact]
    public async Task Cheap_reads_answer_while_every_computation_slot_is_taken_and_the_queue_is_full()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxConcurrentComputations = 1, ComputationQueueLimit = 1 } });
        string run = (await h.PostJson("/api/v1/runs", new { prompt = "the cat sat" }, 202))["id"]!.GetValue<string>();
        Task<HttpResponseMessage> queued, refused;
        using (await HoldComputationSlot(h))
        {
            // Two computations arrive: one takes the queue's only place, the other is refused at once (whichever came second).
            Task<HttpResponseMessage> first = h.Client.PostAsJsonAsync("/api/v1/attention", TinyAttention());
            Task<HttpResponseMessage> second = h.Client.PostAsJsonAsync("/api/v1/attention", TinyAttention());
            refused = await Task.WhenAny(first, second);
            queued = refused == first ? second : first;
            await ServerHarness.AssertProblem(await refused, 429, "computations are running");
            Assert.False(queued.IsCompleted);

            foreach (string path in CheapPaths.Append($"/api/v1/runs/{run}"))
            {
                using HttpResponseMessage response = await h.Client.GetAsync(new Uri(path, UriKind.Relative));
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} while computations wait");
            }

            Assert.False(queued.IsCompleted);
        }

        using HttpResponseMessage ran = await queued;
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
    }

    [Fact]
    public async Task A_computation_still_waiting_when_its_time_is_up_is_503_not_429_nor_a_late_200()
    {
        // Two seconds: each refused call below waits it out, and the last call must finish within it on a loaded CI machine.
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxConcurrentComputations = 1, RequestTimeout = TimeSpan.FromSeconds(2) } });
        using (await HoldComputationSlot(h))
        {
            await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/attention", TinyAttention()), 503, "took longer");
            await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/runs", new { prompt = "the cat sat", wait = true }), 503, "took longer");
            await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/explain", new { }), 503, "took longer");
        }

        // The slot free again, the same request runs.
        using HttpResponseMessage ran = await h.Client.PostAsJsonAsync("/api/v1/attention", TinyAttention());
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
    }

    [Fact]
    public async Task The_descriptor_reports_the_computation_limits()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxConcurrentComputations = 3, ComputationQueueLimit = 17, RequestTimeout = TimeSpan.FromSeconds(45) } });
        var limits = (await h.GetJson("/api/v1"))["limits"]!;
        Assert.Equal(3, limits["maxConcurrentComputations"]!.GetValue<int>());
        Assert.Equal(17, limits["computationQueueLimit"]!.GetValue<int>());
        Assert.Equal(45, limits["requestTimeoutSeconds"]!.GetValue<double>());
        // The README promises a 503 after 30 s by default.
        Assert.Equal(TimeSpan.FromSeconds(30), new ServerLimits().RequestTimeout);
    }

    [Theory]
    [InlineData("POST", "/api/v1/attention", RequestClass.Computation)]
    [InlineData("POST", "/api/v1/multi-head-attention", RequestClass.Computation)]
    [InlineData("POST", "/api/v1/explain", RequestClass.Computation)]
    [InlineData("POST", "/api/v1/lookup", RequestClass.Computation)]
    [InlineData("POST", "/api/v1/workspace/analyse", RequestClass.Computation)]
    [InlineData("POST", "/mcp", RequestClass.Request)]
    [InlineData("GET", "/mcp", RequestClass.Cheap)]
    [InlineData("GET", "/api/v1/runs/abc/events", RequestClass.Cheap)]
    [InlineData("GET", "/api/v1/runs/abc", RequestClass.Cheap)]
    [InlineData("GET", "/api/v1/runs/abc/report", RequestClass.Request)]
    [InlineData("GET", "/api/v1/runs/abc/pictures/heatmap.png", RequestClass.Request)]
    [InlineData("GET", "/api/v1/workspace/matrices/m", RequestClass.Request)]
    [InlineData("POST", "/api/v1/runs", RequestClass.Request)]
    [InlineData("PATCH", "/api/v1/workspace/matrices/m", RequestClass.Request)]
    [InlineData("DELETE", "/api/v1/runs/abc", RequestClass.Request)]
    internal void Requests_are_classed_by_method_and_path(string method, string path, RequestClass expected)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        Assert.Equal(expected, Admission.Classify(context.Request));
    }

    [Theory]
    [MemberData(nameof(CheapReads))]
    public void Cheap_reads_are_never_queued(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = path;
        Assert.Equal(RequestClass.Cheap, Admission.Classify(context.Request));
    }
}
