using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Heed.Server.Tests;

/// <summary>A short load test on loopback: about 2,000 mixed requests, 32 at a time, bounded in time and memory, no 5xx.</summary>
public sealed class LoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Kestrel_buffers_come_from_a_pool_that_keeps_at_most_its_bound_after_a_burst()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        Assert.IsType<BoundedBlockPoolFactory>(h.Server.Services.GetRequiredService<IMemoryPoolFactory<byte>>());

        using var pool = (BoundedBlockPool)new BoundedBlockPoolFactory().Create();
        IMemoryOwner<byte>[] burst = [.. Enumerable.Range(0, BoundedBlockPool.MaxFreeBlocks + 500).Select(_ => pool.Rent())];
        Assert.All(burst, b => Assert.Equal(BoundedBlockPool.BlockSize, b.Memory.Length));
        Assert.Equal(0, pool.FreeCount);
        foreach (IMemoryOwner<byte> block in burst)
        {
            block.Dispose();
        }

        Assert.Equal(BoundedBlockPool.MaxFreeBlocks, pool.FreeCount); // the other 500 are left to the GC
        IMemoryOwner<byte> reused = pool.Rent(100);
        Assert.Contains(reused, burst);
        Assert.Equal(BoundedBlockPool.MaxFreeBlocks - 1, pool.FreeCount);
        // A larger request gets a buffer of its own, never pooled (not ArrayPool.Shared's 16 MiB buckets that outlive a burst).
        IMemoryOwner<byte> large = pool.Rent(8_400_000);
        Assert.True(large.Memory.Length >= 8_400_000);
        large.Dispose();
        Assert.Equal(BoundedBlockPool.MaxFreeBlocks - 1, pool.FreeCount);
        Assert.Equal(int.MaxValue, pool.MaxBufferSize);
    }

    [Fact]
    public async Task Two_thousand_requests_at_32_concurrent_get_no_5xx()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await h.PostJson("/api/v1/workspace/matrices", new { name = "m", rows = 16, columns = 16, fill = 0.5 }, 201);
        string run = (await h.PostJson("/api/v1/runs", new { prompt = "The cat sat on the mat" }, 202))["id"]!.GetValue<string>();
        for (int i = 0; i < 100 && (await h.GetJson($"/api/v1/runs/{run}"))["state"]!.GetValue<string>() != "Succeeded"; i++) await Task.Delay(20);
        var q = new { shape = new[] { 1, 2, 16, 8 }, dtype = "float32", data = Enumerable.Range(0, 256).Select(i => Math.Sin(i)).ToArray() };
        Func<HttpClient, Task<HttpResponseMessage>>[] kinds =
        [
            c => c.GetAsync(new Uri("/api/v1/health", UriKind.Relative)),
            c => c.PostAsJsonAsync("/api/v1/attention", new { q, k = q, v = q, isCausal = true }),
            c => c.PostAsJsonAsync("/api/v1/explain", new { }),
            c => c.GetAsync(new Uri("/api/v1/workspace/matrices/m?rowStart=2&rowCount=4", UriKind.Relative)),
            c => c.GetAsync(new Uri($"/api/v1/runs/{run}/report", UriKind.Relative)),
        ];
        const int Total = 2000, Concurrency = 32;
        int next = -1, serverErrors = 0, ok = 0, tooMany = 0;
        var latencies = new double[Total];
        long before = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Total)
            {
                long start = Stopwatch.GetTimestamp();
                using HttpResponseMessage r = await kinds[i % kinds.Length](h.Client);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if ((int)r.StatusCode >= 500) Interlocked.Increment(ref serverErrors);
                else if (r.StatusCode == HttpStatusCode.TooManyRequests) Interlocked.Increment(ref tooMany);
                else if (r.IsSuccessStatusCode) Interlocked.Increment(ref ok);
            }
        })).WaitAsync(TimeSpan.FromSeconds(60));
        clock.Stop();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        process.Refresh();
        Array.Sort(latencies);
        output.WriteLine($"requests {Total}, concurrency {Concurrency}, wall {clock.Elapsed.TotalSeconds:0.00} s, {Total / clock.Elapsed.TotalSeconds:0} req/s, "
            + $"p50 {latencies[Total / 2]:0.0} ms, p99 {latencies[(Total * 99) / 100]:0.0} ms, max {latencies[^1]:0.0} ms, "
            + $"ok {ok}, 429 {tooMany}, 5xx {serverErrors}, managed heap {before / 1048576.0:0.0} -> {after / 1048576.0:0.0} MiB, peak working set {process.PeakWorkingSet64 / 1048576.0:0} MiB");
        Assert.Equal(0, serverErrors);
        Assert.Equal(Total, ok + tooMany);
        Assert.True(ok >= Total * 0.99, $"only {ok} of {Total} succeeded ({tooMany} got 429)");
        // Bounded memory: the runs kept (at most MaxRuns) and the heap do not grow with the request count.
        Assert.True(after - before < 64L * 1024 * 1024, $"the managed heap grew by {(after - before) / 1048576.0:0.0} MiB");
    }
}
