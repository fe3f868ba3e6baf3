using System.CommandLine;
using Heed.Server;

namespace Heed.Cli.Commands;

/// <summary><c>heed mcp</c>: Heed's MCP server over stdio; <c>heed mcp config</c> prints what a client needs.</summary>
internal static class McpCommand
{
    public static Command Create()
    {
        var models = new Option<string?>("--models") { Description = "Folder of models, addressed by id" };
        var workspace = new Option<string?>("--workspace") { Description = "Folder the workspace of named matrices is saved to and reloaded from" };
        var command = new Command("mcp", "Serve Heed's MCP tools, resources and prompts over stdin/stdout (for MCP clients that start a process).")
        {
            models, workspace,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            var options = new HeedServerOptions { ModelsDirectory = parse.GetValue(models), WorkspaceDirectory = parse.GetValue(workspace), Token = "stdio" };
            McpStdio.RunAsync(options).GetAwaiter().GetResult();
            return 0;
        }));

        var config = new Command("config", "Print the mcpServers entry an MCP client needs: 'heed mcp' over stdio, and the running server's HTTP endpoint if there is one.");
        config.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            DiscoveryInfo? running = DiscoveryInfo.Read(ServerPaths.DefaultDiscoveryFile());
            parse.InvocationConfiguration.Output.WriteLine(McpStdio.ClientConfig(Executable.Command()[0], [.. Executable.Command().Skip(1), "mcp"], running));
            return 0;
        }));
        command.Subcommands.Add(config);
        return command;
    }
}
