using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Heed.IO;

namespace Heed.Server.Tests;

/// <summary>Binding, token, Host/Origin allow-list, body and input limits, request timeout and the concurrency limiter.</summary>
[Collection(TimingSensitive.Name)]
public sealed class SecurityTests
{
    /// <summary>
    /// Slow to compute (the float64 reference over 4 heads × 4096 × 4096 scores with softcap, 0.2–1 s) but small to send (3 × 64 KiB, sent as
    /// ready bytes), so a time limit fires while the server computes, not while it still reads the body (which ends in a reset
    /// connection rather than a response).
    /// </summary>
    private static ByteArrayContent HeavyAttention()
    {
        var random = new Random(7);
        string Base64Npy(int length, int size)
        {
            var data = new double[4 * length * size];
            for (int i = 0; i < data.Length; i++) data[i] = random.NextDouble() - 0.5;
            using var s = new MemoryStream();
            Npy.Write(s, Heed.Tensor.FromDoubles(Heed.DType.Float32, [1, 4, length, size], data));
            return Convert.ToBase64String(s.ToArray());
        }

        var body = new ByteArrayContent(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { q = new { npy = Base64Npy(4096, 1) }, k = new { npy = Base64Npy(4096, 1) }, v = new { npy = Base64Npy(4096, 1) }, reference = true, softcap = 30.0, softmaxPrecision = "double" }));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return body;
    }

    [Fact]
    public async Task It_binds_to_loopback_only_by_default()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        Assert.Equal("127.0.0.1", h.Server.Url.Host);
        Assert.Equal(IPAddress.Loopback, new Heed.Server.HeedServerOptions().Address);
        // Nothing answers on the machine's other addresses.
        IPAddress? other = Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        if (other is not null)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await Assert.ThrowsAnyAsync<SocketException>(() => socket.ConnectAsync(other, h.Server.Url.Port));
        }
    }

    [Theory]
    [InlineData("/api/v1/models")]
    [InlineData("/api/v1")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/mcp")]
    public async Task Everything_but_health_and_the_page_needs_the_token(string path)
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        using HttpResponseMessage none = await h.Anonymous.GetAsync(new Uri(path, UriKind.Relative));
        await ServerHarness.AssertProblem(none, 401);
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, path);
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        await ServerHarness.AssertProblem(await h.Anonymous.SendAsync(wrong), 401);
        Assert.Equal(HttpStatusCode.OK, (await h.Anonymous.GetAsync(new Uri("/api/v1/health", UriKind.Relative))).StatusCode);
    }

    [Theory]
    [InlineData("/?token=" + ServerHarness.Token)]
    [InlineData("/")]
    public async Task The_web_page_opens_with_or_without_the_token_in_the_query(string address)
    {
        // A reload drops ?token= (the page took it out of the address bar) and must still get the page, which keeps the token
        // in the tab's sessionStorage; the page holds no data of its own.
        await using ServerHarness h = await ServerHarness.StartAsync();
        using HttpResponseMessage page = await h.Anonymous.GetAsync(new Uri(address, UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        Assert.Equal("no-referrer", page.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("sessionStorage", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A query token never opens the API.
        await ServerHarness.AssertProblem(await h.Anonymous.GetAsync(new Uri($"/api/v1/models?token={ServerHarness.Token}", UriKind.Relative)), 401);
        await ServerHarness.AssertProblem(await h.Anonymous.PostAsync(new Uri($"/?token={ServerHarness.Token}", UriKind.Relative), null), 401);
    }

    [Fact]
    public async Task The_token_is_generated_once_and_stored_owner_only()
    {
        string folder = ServerHarness.NewFolder();
        string tokenFile = Path.Combine(folder, "config", "token");
        string first, second;
        await using (ServerHarness h = await ServerHarness.StartAsync(o => o with { Token = null, TokenFile = tokenFile }))
        {
            first = h.Server.Token;
        }

        await using (ServerHarness h = await ServerHarness.StartAsync(o => o with { Token = null, TokenFile = tokenFile }))
        {
            second = h.Server.Token;
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/models");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", second);
            Assert.Equal(HttpStatusCode.OK, (await h.Anonymous.SendAsync(request)).StatusCode);
        }

        Assert.Equal(first, second);
        Assert.True(first.Length >= 40);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        Directory.Delete(folder, true);
    }

    [Theory]
    [InlineData("Host", "evil.example:80", "Forbidden host")]
    [InlineData("Host", "attacker.test", "Forbidden host")]
    [InlineData("Origin", "http://evil.example", "Forbidden origin")]
    [InlineData("Origin", "null", "Forbidden origin")]
    [InlineData("Origin", "https://localhost", "Forbidden origin")]
    public async Task Foreign_hosts_and_origins_are_403(string header, string value, string title)
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/health");
        if (header == "Host") request.Headers.Host = value;
        else request.Headers.Add("Origin", value);
        JsonNode problem = await ServerHarness.AssertProblem(await h.Client.SendAsync(request), 403);
        Assert.Equal(title, problem["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_servers_own_origin_and_localhost_are_allowed()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        int port = h.Server.Url.Port;
        foreach (string origin in new[] { $"http://127.0.0.1:{port}", $"http://localhost:{port}" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/models");
            request.Headers.Add("Origin", origin);
            request.Headers.Host = $"localhost:{port}";
            Assert.Equal(HttpStatusCode.OK, (await h.Client.SendAsync(request)).StatusCode);
        }
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxBodyBytes = 1000 } });
        using var declared = new StringContent(new string(' ', 2000) + "{}", System.Text.Encoding.UTF8, "application/json");
        await ServerHarness.AssertProblem(await h.Client.PostAsync(new Uri("/api/v1/explain", UriKind.Relative), declared), 413, "limit is 1000");

        // A chunked body (no Content-Length) is cut off by the server while it is read. A raw socket sends it whole
        // before reading, so the answer is read even though the server closes the connection after it.
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, h.Server.Url.Port);
        using NetworkStream stream = socket.GetStream();
        string chunk = "{\"tokens\":[\"" + new string('a', 3000) + "\"]}";
        string request = $"POST /api/v1/explain HTTP/1.1\r\nHost: 127.0.0.1:{h.Server.Url.Port}\r\nAuthorization: Bearer {ServerHarness.Token}\r\n"
            + $"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunk.Length:x}\r\n{chunk}\r\n0\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream);
        string? status = await reader.ReadLineAsync();
        Assert.StartsWith("HTTP/1.1 413", status, StringComparison.Ordinal);
        string rest = await reader.ReadToEndAsync();
        Assert.Contains("application/problem+json", rest, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 1, 1, 9, 2 }, "sequence length limit")]
    [InlineData(new[] { 1, 1, 2, 9 }, "width limit")]
    public async Task Inputs_over_the_size_limits_are_400(int[] shape, string detail)
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxSequenceLength = 8, MaxWidth = 8 } });
        var t = new { shape, data = new double[shape.Aggregate(1, (a, b) => a * b)] };
        await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/attention", new { q = t, k = t, v = t }), 400, detail);
        await ServerHarness.AssertProblem(await h.Client.PostAsJsonAsync("/api/v1/runs", new { prompt = "one two three four five six seven eight nine" }), 400, "limit is 8");
    }

    [Fact]
    public async Task A_request_over_the_time_limit_is_503()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { RequestTimeout = TimeSpan.FromMilliseconds(20) } });
        await ServerHarness.AssertProblem(await h.Client.PostAsync(new Uri("/api/v1/attention", UriKind.Relative), HeavyAttention()), 503, "took longer");
    }

    [Fact]
    public async Task Requests_beyond_the_concurrency_limit_get_429_not_a_dropped_connection()
    {
        // The one computation slot is held and nothing may wait: the next computation is refused at once, while the model list
        // (a cheap read, never limited) still answers.
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { Limits = o.Limits with { MaxConcurrentComputations = 1, ComputationQueueLimit = 0 } });
        using (await AdmissionTests.HoldComputationSlot(h))
        {
            HttpResponseMessage rejected = await h.Client.PostAsync(new Uri("/api/v1/attention", UriKind.Relative), HeavyAttention());
            await ServerHarness.AssertProblem(rejected, 429, "retry");
            Assert.Equal("1", rejected.Headers.GetValues("Retry-After").Single());
            Assert.Equal(HttpStatusCode.OK, (await h.Client.GetAsync(new Uri("/api/v1/models", UriKind.Relative))).StatusCode);
        }

        using HttpResponseMessage finished = await h.Client.PostAsync(new Uri("/api/v1/attention", UriKind.Relative), HeavyAttention());
        Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
    }
}
