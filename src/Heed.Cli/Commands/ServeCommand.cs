using System.CommandLine;
using System.Net;
using Heed.Server;

namespace Heed.Cli.Commands;

/// <summary><c>heed serve</c>: the local server (REST, OpenAPI, MCP over HTTP, web page) and its discovery file.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "TCP port; 0 = any free port", DefaultValueFactory = _ => 8471 };
        var models = new Option<string?>("--models") { Description = "Folder of models, addressed by id" };
        var workspace = new Option<string?>("--workspace") { Description = "Folder the workspace of named matrices is saved to and reloaded from" };
        var bind = new Option<string?>("--bind") { Description = "Listen on this address instead of 127.0.0.1 (reachable by other machines: the token is then all that protects it)" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Where the bearer token is kept (default $XDG_CONFIG_HOME/heed/token)" };
        var discovery = new Option<string?>("--discovery-file") { Description = "Where url, token and pid are written (default $XDG_RUNTIME_DIR/heed/server.json, else ~/.heed/server.json)" };
        var command = new Command("serve", "Run Heed's local server: REST under /api/v1, OpenAPI at /openapi/v1.json, MCP at /mcp, the web page at /.")
        {
            port, models, workspace, bind, tokenFile, discovery,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output, error = parse.InvocationConfiguration.Error;
            IPAddress address = IPAddress.Loopback;
            if (parse.GetValue(bind) is string b)
            {
                address = IPAddress.TryParse(b, out IPAddress? parsed) ? parsed : throw new HeedException($"--bind {b}: not an IP address");
                if (!IPAddress.IsLoopback(address))
                {
                    error.WriteLine($"heed: warning: listening on {address}, not only on this machine; anyone who can reach it and has the token can use it");
                }
            }

            int p = parse.GetValue(port);
            if (p is < 0 or > 65535)
            {
                throw new HeedException($"--port {p}: expected 0..65535");
            }

            string? modelsDir = parse.GetValue(models);
            if (modelsDir is not null && !Directory.Exists(modelsDir))
            {
                throw new HeedException($"--models {modelsDir}: no such folder");
            }

            var options = new HeedServerOptions
            {
                Address = address,
                Port = p,
                ModelsDirectory = modelsDir,
                WorkspaceDirectory = parse.GetValue(workspace),
                TokenFile = parse.GetValue(tokenFile) ?? ServerPaths.DefaultTokenFile(),
                DiscoveryFile = parse.GetValue(discovery) ?? ServerPaths.DefaultDiscoveryFile(),
            };
            return Serve(options, output).GetAwaiter().GetResult();
        }));
        return command;
    }

    private static async Task<int> Serve(HeedServerOptions options, TextWriter output)
    {
        HeedServer server;
        try
        {
            server = await HeedServer.StartAsync(options).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new HeedException($"--port {options.Port}: cannot listen: {ex.Message}", ex);
        }

        await using (server.ConfigureAwait(false))
        {
            string url = server.Url.ToString().TrimEnd('/');
            output.WriteLine($"Heed {HeedServer.Version} listening on {url}");
            output.WriteLine($"  web page:  {url}/?token={server.Token}");
            output.WriteLine($"  OpenAPI:   {url}/openapi/v1.json");
            output.WriteLine($"  MCP:       {url}/mcp");
            output.WriteLine($"  discovery: {options.DiscoveryFile} (url, token, pid)");
            output.Flush();
            await server.WaitForShutdownAsync().ConfigureAwait(false);
        }

        return 0;
    }
}
