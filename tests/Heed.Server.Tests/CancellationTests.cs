using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Heed.Server.Services;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server.Tests;

/// <summary>Cancellation reaches the work: cancelled runs stop and say so, and a timed-out request stops its run.</summary>
public sealed class CancellationTests
{
    /// <summary>A runner that works in small steps until it is cancelled, counting the steps and whether it is inside Run.</summary>
    private sealed class EndlessRunner : IModelRunner
    {
        private int _active;
        private long _steps;

        public string Format => "heed-toy";

        public int Active => Volatile.Read(ref _active);

        public long Steps => Interlocked.Read(ref _steps);

        public void Check(string modelId, string prompt)
        {
        }

        public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
        {
            Interlocked.Increment(ref _active);
            try
            {
                for (int step = 1; ; step++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    Interlocked.Increment(ref _steps);
                    progress(step, 0, $"step {step}");
                    Thread.Sleep(2);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private static async Task<RunStatus> WaitForEnd(RunService runs, string id)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        return await runs.WaitAsync(id, null, limit.Token);
    }

    [Fact]
    public async Task A_cancelled_run_stops_and_its_state_is_cancelled()
    {
        var runner = new EndlessRunner();
        using var runs = new RunService(new ModelCatalog(null), [runner], new ServerLimits(), TimeProvider.System);
        RunStatus created = runs.Create(new RunRequest { Prompt = "anything" });
        while (runner.Steps < 3) await Task.Delay(5);
        runs.Cancel(created.Id);
        RunStatus final = await WaitForEnd(runs, created.Id);
        Assert.Equal(RunState.Cancelled, final.State);
        Assert.Equal(0, runner.Active);
        await Assert.ThrowsAsync<HeedConflictException>(() => Task.Run(() => runs.Report(created.Id)));
    }

    [Fact]
    public void The_toy_runner_stops_between_heads()
    {
        string folder = ServerHarness.NewFolder();
        File.WriteAllText(Path.Combine(folder, "two.heed-toy.json"), ToyModels.TwoLayersTwoHeads);
        var runner = new ToyModelRunner(new ModelCatalog(folder), new ServerLimits());
        using var cancel = new CancellationTokenSource();
        var seen = new List<string>();
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run("two.heed-toy.json", "the cat sat", (_, _, m) =>
        {
            seen.Add(m);
            if (m == "layer 0 head 0") cancel.Cancel();
        }, cancel.Token));
        Assert.Equal(["tokenized: 3 tokens", "layer 0 head 0"], seen);
        Directory.Delete(folder, true);
    }

    [Fact]
    public async Task The_cancel_endpoint_stops_a_running_run_and_its_events_end_with_cancelled()
    {
        var runner = new EndlessRunner();
        await using ServerHarness h = await ServerHarness.StartAsync(configureServices: s => s.AddSingleton<IModelRunner>(runner));
        JsonNode created = await h.PostJson("/api/v1/runs", new { prompt = "anything" }, 202);
        string id = created["id"]!.GetValue<string>();
        while (runner.Steps < 3) await Task.Delay(5);
        JsonNode cancelled = await h.PostJson($"/api/v1/runs/{id}/cancel", new { }, 202);
        Assert.Equal(id, cancelled["id"]!.GetValue<string>());
        string events = await h.Client.GetStringAsync(new Uri($"/api/v1/runs/{id}/events", UriKind.Relative));
        Assert.EndsWith("event: cancelled", events.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^1].Split('\n').First(l => l.StartsWith("event:", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal("Cancelled", (await h.GetJson($"/api/v1/runs/{id}"))["state"]!.GetValue<string>());
        Assert.Equal(0, runner.Active);
        await ServerHarness.AssertProblem(await h.Client.GetAsync(new Uri($"/api/v1/runs/{id}/report", UriKind.Relative)), 409, "was cancelled");
        await ServerHarness.AssertProblem(await h.Client.PostAsync(new Uri("/api/v1/runs/nope/cancel", UriKind.Relative), null), 404);
    }

    [Fact]
    public async Task A_waiting_request_that_times_out_is_503_and_its_run_is_cancelled_and_stops()
    {
        var runner = new EndlessRunner();
        await using ServerHarness h = await ServerHarness.StartAsync(
            o => o with { Limits = o.Limits with { RequestTimeout = TimeSpan.FromMilliseconds(400) } },
            configureServices: s => s.AddSingleton<IModelRunner>(runner));
        using HttpResponseMessage response = await h.Client.PostAsJsonAsync("/api/v1/runs", new { prompt = "anything", wait = true });
        await ServerHarness.AssertProblem(response, 503, "took longer");

        // The run behind the timed-out request flips to Cancelled, which happens only once the runner has returned.
        JsonNode run = (await h.GetJson("/api/v1/runs"))["runs"]![0]!;
        for (int i = 0; i < 400 && run["state"]!.GetValue<string>() != "Cancelled"; i++)
        {
            await Task.Delay(25);
            run = (await h.GetJson("/api/v1/runs"))["runs"]![0]!;
        }

        Assert.Equal("Cancelled", run["state"]!.GetValue<string>());
        Assert.Equal(0, runner.Active);
        long steps = runner.Steps;
        await Task.Delay(100);
        Assert.Equal(steps, runner.Steps);
    }

    [Fact]
    public async Task A_waiting_request_answers_with_the_report_when_the_run_finishes()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        JsonNode report = await h.PostJson("/api/v1/runs", new { prompt = "The cat sat on the mat", wait = true });
        Assert.Equal("Succeeded", report["status"]!["state"]!.GetValue<string>());
        Assert.Equal("cat", report["explanation"]!["focus"]!.GetValue<string>());
    }
}
