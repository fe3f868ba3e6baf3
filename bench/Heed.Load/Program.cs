using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Heed.Load;

/// <summary>
/// A loopback load generator for a running <c>heed serve</c>: fixed request counts at fixed concurrency on health, a small
/// attention call and the default explain, then a burst of heavy attention calls while health and the model list are probed,
/// with the server's resident memory (from /proc) idle, during the burst and 60 s after. Bounded in requests and time.
/// Usage: heed-load URL TOKEN PID [requests=10000] [concurrency=64] [burst=160] [after-seconds=60].
/// </summary>
internal static class Program
{
    private static readonly string[] ProbePaths = ["/api/v1/health", "/api/v1/models"];

    private static async Task<int> Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: heed-load URL TOKEN PID [requests] [concurrency] [burst] [after-seconds]");
            return 2;
        }

        var url = new Uri(args[0]);
        int pid = int.Parse(args[2], CultureInfo.InvariantCulture);
        int requests = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 10_000;
        int concurrency = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 64;
        int burst = args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 160;
        int after = args.Length > 6 ? int.Parse(args[6], CultureInfo.InvariantCulture) : 60;
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var client = new HttpClient(handler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(120) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", args[1]);

        string small = Attention(1, 2, 16, 8);
        Console.WriteLine($"idle resident memory: {Rss(pid)} MiB");
        await Fixed(client, "health", requests, concurrency, () => new HttpRequestMessage(HttpMethod.Get, "/api/v1/health"));
        await Fixed(client, "attention [1,2,16,8]", requests, concurrency, () => Post("/api/v1/attention", small));
        await Fixed(client, "explain (default)", requests, concurrency, () => Post("/api/v1/explain", "{}"));

        // Settle, then the idle figure the burst is compared with.
        await Task.Delay(TimeSpan.FromSeconds(10));
        double idle = Rss(pid);
        Console.WriteLine($"idle resident memory before the burst: {idle:0} MiB");
        string heavy = Attention(1, 8, 1024, 64);
        Console.WriteLine($"burst: {burst} concurrent heavy attention calls [1, 8, 1024, 64], {heavy.Length / 1048576.0:0.0} MiB bodies, 2 each");
        using var stop = new CancellationTokenSource();
        double peak = idle;
        Task sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Rss(pid));
                await Task.Delay(200);
            }
        });
        var probes = new List<(string, List<double>, Dictionary<int, int>)>();
        Task[] probing = ProbePaths.Select(path =>
        {
            var latencies = new List<double>();
            var statuses = new Dictionary<int, int>();
            probes.Add((path, latencies, statuses));
            return Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    long start = Stopwatch.GetTimestamp();
                    int status;
                    try
                    {
                        using HttpResponseMessage r = await client.GetAsync(new Uri(path, UriKind.Relative), stop.Token);
                        status = (int)r.StatusCode;
                    }
                    catch (HttpRequestException)
                    {
                        status = 0;
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        break;
                    }

                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    statuses[status] = statuses.GetValueOrDefault(status) + 1;
                    await Task.Delay(20);
                }
            });
        }).ToArray();
        var heavyStatuses = new Dictionary<int, int>();
        var heavyLatencies = new List<double>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, burst).Select(async _ =>
        {
            for (int i = 0; i < 2; i++)
            {
                long start = Stopwatch.GetTimestamp();
                int status;
                try
                {
                    using HttpResponseMessage r = await client.SendAsync(Post("/api/v1/attention", heavy));
                    status = (int)r.StatusCode;
                }
                catch (HttpRequestException)
                {
                    status = 0;
                }

                lock (heavyStatuses)
                {
                    heavyStatuses[status] = heavyStatuses.GetValueOrDefault(status) + 1;
                    heavyLatencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
        }));
        clock.Stop();
        stop.Cancel();
        await Task.WhenAll(probing.Append(sampler));
        Console.WriteLine($"burst: {burst * 2} heavy calls in {clock.Elapsed.TotalSeconds:0.0} s, statuses {Statuses(heavyStatuses)}, {Summary(heavyLatencies)}");
        foreach ((string path, List<double> latencies, Dictionary<int, int> statuses) in probes)
        {
            Console.WriteLine($"during the burst GET {path}: {latencies.Count} probes, statuses {Statuses(statuses)}, {Summary(latencies)}");
        }

        Console.WriteLine($"resident memory: idle {idle:0} MiB, peak during the burst {peak:0} MiB");
        for (int s = 10; s <= after; s += 10)
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
            double now = Rss(pid);
            Console.WriteLine($"  {s,3} s after the burst: {now:0} MiB ({now / idle:0.00}x idle)");
        }

        return 0;
    }

    private static async Task Fixed(HttpClient client, string name, int total, int concurrency, Func<HttpRequestMessage> request)
    {
        int next = -1, errors = 0, non2xx = 0;
        var latencies = new double[total];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                long start = Stopwatch.GetTimestamp();
                try
                {
                    using HttpResponseMessage r = await client.SendAsync(request());
                    await r.Content.ReadAsByteArrayAsync();
                    if (!r.IsSuccessStatusCode) Interlocked.Increment(ref non2xx);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }

                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        })).WaitAsync(TimeSpan.FromSeconds(300));
        clock.Stop();
        Console.WriteLine($"{name}: {total} requests at {concurrency} concurrent, {total / clock.Elapsed.TotalSeconds:0} req/s, {Summary(latencies)}, errors {errors}, non-2xx {non2xx}");
    }

    private static HttpRequestMessage Post(string path, string json) =>
        new(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    /// <summary>Q, K and V [B, H, T, D] as base64 .npy (the body stays a third of the JSON numbers' size) with Y asked as .npy.</summary>
    private static string Attention(int batch, int heads, int length, int size)
    {
        var random = new Random(7);
        string Tensor()
        {
            int count = batch * heads * length * size;
            using var s = new MemoryStream();
            string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({batch}, {heads}, {length}, {size}), }}";
            header = header.PadRight(((header.Length + 10 + 64) / 64 * 64) - 11) + "\n";
            s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
            s.Write(BitConverter.GetBytes((ushort)header.Length));
            s.Write(Encoding.ASCII.GetBytes(header));
            for (int i = 0; i < count; i++) s.Write(BitConverter.GetBytes((float)(random.NextDouble() - 0.5)));
            return Convert.ToBase64String(s.ToArray());
        }

        return $"{{\"q\":{{\"npy\":\"{Tensor()}\"}},\"k\":{{\"npy\":\"{Tensor()}\"}},\"v\":{{\"npy\":\"{Tensor()}\"}},\"encoding\":\"Npy\"}}";
    }

    private static double Rss(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return double.NaN;
    }

    private static string Summary(IReadOnlyCollection<double> latencies)
    {
        double[] sorted = [.. latencies.Order()];
        return sorted.Length == 0 ? "no requests"
            : $"p50 {sorted[sorted.Length / 2]:0.0} ms, p99 {sorted[Math.Min(sorted.Length - 1, sorted.Length * 99 / 100)]:0.0} ms, max {sorted[^1]:0.0} ms";
    }

    private static string Statuses(Dictionary<int, int> statuses) =>
        string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{(s.Key == 0 ? "error" : s.Key.ToString(CultureInfo.InvariantCulture))}: {s.Value}"));
}
