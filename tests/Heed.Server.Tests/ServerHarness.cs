using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Heed.Server.Tests;

/// <summary>A server on 127.0.0.1:0 with its own temporary folders, and an HttpClient that sends its token.</summary>
public sealed class ServerHarness : IAsyncDisposable
{
    public const string Token = "test-token-0123456789abcdef0123456789abcdef";

    private ServerHarness(HeedServer server, string folder)
    {
        Server = server;
        Folder = folder;
        Client = new HttpClient { BaseAddress = server.Url };
        Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        Anonymous = new HttpClient { BaseAddress = server.Url };
    }

    public HeedServer Server { get; }

    public string Folder { get; }

    public HttpClient Client { get; }

    public HttpClient Anonymous { get; }

    public static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "heed-server-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static async Task<ServerHarness> StartAsync(Func<HeedServerOptions, HeedServerOptions>? configure = null, string? folder = null, Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? configureServices = null)
    {
        folder ??= NewFolder();
        var options = new HeedServerOptions
        {
            Port = 0,
            Token = Token,
            TokenFile = Path.Combine(folder, "token"),
            DiscoveryFile = Path.Combine(folder, "server.json"),
        };
        // Five minutes, not the server's 30 s: on a loaded test machine (the test projects run side by side) a model run can
        // take longer than 30 s, and a 503 there, or the connection it closes, would fail a test about something else. The
        // tests of the time limit set their own.
        options = options with { Limits = options.Limits with { RequestTimeout = TimeSpan.FromMinutes(5) } };
        options = configure?.Invoke(options) ?? options;
        return new ServerHarness(await HeedServer.StartAsync(options, configureServices: configureServices), folder);
    }

    public async Task<JsonNode> PostJson(string path, object body, int expectedStatus = 200)
    {
        using HttpResponseMessage response = await Client.PostAsJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(expectedStatus == (int)response.StatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>POSTs <paramref name="json"/> as it is (for malformed or hand-written bodies).</summary>
    public async Task<HttpResponseMessage> PostRaw(string path, string json)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        return await Client.PostAsync(new Uri(path, UriKind.Relative), content);
    }

    public async Task<JsonNode> GetJson(string path, int expectedStatus = 200)
    {
        using HttpResponseMessage response = await Client.GetAsync(new Uri(path, UriKind.Relative));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(expectedStatus == (int)response.StatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Asserts an RFC 9457 problem document with <paramref name="status"/> whose detail contains <paramref name="detailPart"/>.</summary>
    public static async Task<JsonNode> AssertProblem(HttpResponseMessage response, int status, string? detailPart = null)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonNode problem = JsonNode.Parse(text)!;
        Assert.Equal(status, problem["status"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(problem["title"]?.GetValue<string>()));
        if (detailPart is not null)
        {
            Assert.Contains(detailPart, problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        return problem;
    }

    /// <summary>A JSON array of numbers; ±∞ arrive as the strings "Infinity" and "-Infinity".</summary>
    public static double[] Doubles(JsonNode? array) => array!.AsArray()
        .Select(n => n!.GetValueKind() == JsonValueKind.String ? double.Parse(n.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) : n.GetValue<double>())
        .ToArray();

    public static double[][] Matrix(JsonNode? rows) => rows!.AsArray().Select(Doubles).ToArray();

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Anonymous.Dispose();
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
