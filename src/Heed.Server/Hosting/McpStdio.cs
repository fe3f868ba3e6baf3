using Heed.Server.Mcp;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Heed.Server;

/// <summary>Heed's MCP server over stdin/stdout (<c>heed mcp</c>): the same tools, resources and prompts as <c>/mcp</c>.</summary>
public static class McpStdio
{
    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Serves MCP on the process's stdin/stdout until stdin closes or <paramref name="cancellation"/> fires. Logs go to stderr.</summary>
    public static async Task RunAsync(HeedServerOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning);
        HeedServer.AddHeedServices(builder.Services, options);
        builder.Services.AddMcpServer(o => o.ServerInfo = new() { Name = "heed", Version = HeedServer.Version, Title = "Heed attention engine" })
            .WithStdioServerTransport()
            .WithHeed();
        using IHost host = builder.Build();
        await host.RunAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>The JSON an MCP client needs to start <c>heed mcp</c> (Claude Desktop / VS Code style <c>mcpServers</c> entry), and the HTTP alternative.</summary>
    public static string ClientConfig(string command, IReadOnlyList<string> arguments, DiscoveryInfo? running)
    {
        var servers = new Dictionary<string, object>
        {
            ["heed"] = new { command, args = arguments },
        };
        if (running is not null)
        {
            servers["heed-http"] = new { type = "http", url = running.Mcp, headers = new Dictionary<string, string> { ["Authorization"] = $"Bearer {running.Token}" } };
        }

        return System.Text.Json.JsonSerializer.Serialize(new { mcpServers = servers }, Indented);
    }
}
