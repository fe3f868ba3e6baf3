using System.Net;
using System.Reflection;
using Heed.Server.Mcp;
using Heed.Server.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Heed.Server;

/// <summary>
/// A running Heed server: REST under <c>/api/v1</c>, the OpenAPI document at <c>/openapi/v1.json</c>, MCP at <c>/mcp</c>
/// and the web page at <c>/</c>, all over one set of services.
/// </summary>
public sealed class HeedServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HeedServerOptions _options;

    private HeedServer(WebApplication app, HeedServerOptions options, string token)
    {
        _app = app;
        _options = options;
        Token = token;
    }

    /// <summary>The server's version (the assembly's informational version).</summary>
    public static string Version { get; } = typeof(HeedServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>The base URL once started, e.g. http://127.0.0.1:8471.</summary>
    public Uri Url { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The bearer token clients must send.</summary>
    public string Token { get; }

    /// <summary>The application's services (for tests and the CLI).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Builds and starts a server; when it listens, writes the discovery file if one is configured.</summary>
    /// <param name="options">Where it listens, its folders and limits.</param>
    /// <param name="logging">Adds log providers (none by default).</param>
    /// <param name="configureServices">Adds or replaces services after Heed's own, e.g. an <see cref="IModelRunner"/> for another model format (a runner registered later wins for its format).</param>
    /// <param name="cancellation">Stops the start.</param>
    /// <exception cref="HeedException">The workspace folder is malformed.</exception>
    public static async Task<HeedServer> StartAsync(HeedServerOptions options, Action<ILoggingBuilder>? logging = null, Action<IServiceCollection>? configureServices = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        string token = options.Token ?? TokenStore.LoadOrCreate(options.TokenFile);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(HeedServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(options.Address, options.Port);
            kestrel.Limits.MaxRequestBodySize = options.Limits.MaxBodyBytes;
            kestrel.AddServerHeader = false;
        });
        ServerLimits limits = options.Limits;
        var guard = new AccessGuard(token, limits.MaxBodyBytes);
        IServiceCollection services = builder.Services;
        AddHeedServices(services, options);
        configureServices?.Invoke(services);
        services.AddProblemDetails();
        services.AddExceptionHandler<Problems.Handler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => ServerJson.Configure(o.SerializerOptions));
        services.AddRequestTimeouts(o => o.DefaultPolicy = new RequestTimeoutPolicy
        {
            Timeout = limits.RequestTimeout,
            TimeoutStatusCode = StatusCodes.Status503ServiceUnavailable,
            WriteTimeoutResponse = context =>
            {
                // The request's token is the timed-out one while this runs; a problem written under it can be cancelled after
                // its headers went out, and the connection is then reset instead of answered. The middleware restores it after.
                context.RequestAborted = CancellationToken.None;
                return Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, Problems.TimedOutTitle, Problems.TimedOutDetail(limits.RequestTimeout));
            },
        });
        services.AddSingleton<Admission>();
        services.AddSingleton<IMemoryPoolFactory<byte>, BoundedBlockPoolFactory>();
        services.AddOpenApi(OpenApiContract.Configure);
        services.AddMcpServer(o => o.ServerInfo = new() { Name = "heed", Version = Version, Title = "Heed attention engine" })
            .WithHttpTransport(o => o.Stateless = false)
            .WithHeed();

        WebApplication app = builder.Build();
        app.Services.GetRequiredService<Workspace>(); // reload the workspace folder now, so that a bad file stops the start
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(guard.InvokeAsync);
        app.UseRequestTimeouts();
        app.Use(app.Services.GetRequiredService<Admission>().InvokeAsync);
        app.MapOpenApi();
        RestApi.Map(app);
        WebPage.Map(app);
        app.MapMcp("/mcp").DisableRequestTimeout();

        var server = new HeedServer(app, options, token);
        await app.StartAsync(cancellation).ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var bound = new Uri(address);
        string host = options.Address.Equals(IPAddress.Any) || options.Address.Equals(IPAddress.Loopback) ? "127.0.0.1" : options.Address.ToString();
        server.Url = new Uri($"http://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{bound.Port}");
        guard.Allow(bound.Port, ExtraHosts(options.Address));
        if (options.DiscoveryFile is not null)
        {
            server.Discovery().Write(options.DiscoveryFile);
        }

        return server;
    }

    /// <summary>Registers the services REST, MCP and the CLI share (for the stdio MCP host too).</summary>
    public static void AddHeedServices(IServiceCollection services, HeedServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton(options.Limits);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new TensorCodec(options.Limits));
        services.AddSingleton(new ModelCatalog(options.ModelsDirectory));
        services.AddSingleton(sp => new Workspace(options.WorkspaceDirectory, sp.GetRequiredService<TensorCodec>()));
        services.AddSingleton<AttentionService>();
        services.AddSingleton<MultiHeadAttentionService>();
        services.AddSingleton<ExplainService>();
        services.AddSingleton<LookupService>();
        services.AddSingleton<IModelRunner, ToyModelRunner>();
        foreach (string format in (string[])["llama2c", "gguf", "gpt2-safetensors", "bert-safetensors", "bert-onnx"])
        {
            services.AddSingleton<IModelRunner>(sp => new TransformerRunner(format, sp.GetRequiredService<ModelCatalog>(), options.Limits));
        }

        services.AddSingleton<EmbeddingService>();
        services.AddSingleton<GenerationService>();
        services.AddSingleton<RunService>();
        services.AddSingleton<TrainingService>();
    }

    /// <summary>What the discovery file says about this server.</summary>
    public DiscoveryInfo Discovery()
    {
        string url = Url.ToString().TrimEnd('/');
        return new DiscoveryInfo(url, Token, Environment.ProcessId, Version, url + "/mcp", url + "/openapi/v1.json");
    }

    /// <summary>Waits until the server is stopped (Ctrl+C, SIGTERM, or <paramref name="cancellation"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        if (_options.DiscoveryFile is not null && File.Exists(_options.DiscoveryFile) && DiscoveryInfo.Read(_options.DiscoveryFile)?.Pid == Environment.ProcessId)
        {
            File.Delete(_options.DiscoveryFile);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static IEnumerable<string> ExtraHosts(IPAddress address)
    {
        if (IPAddress.IsLoopback(address))
        {
            yield break;
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            yield return Dns.GetHostName();
            foreach (IPAddress a in Dns.GetHostAddresses(Dns.GetHostName()))
            {
                yield return a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();
            }

            yield break;
        }

        yield return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }
}
