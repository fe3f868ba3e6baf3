using System.CommandLine;
using Heed.Cli.Commands;

namespace Heed.Cli;

/// <summary>The <c>heed</c> command: one verb per file under Commands/.</summary>
internal static class HeedCli
{
    /// <summary>Builds the command tree.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Heed: exact, fast and explainable attention (ONNX Attention and PyTorch SDPA semantics) in .NET.");
        root.Subcommands.Add(AttentionCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(PullCommand.Create());
        root.Subcommands.Add(LookupCommand.Create());
        root.Subcommands.Add(ShowCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(McpCommand.Create());
        root.Subcommands.Add(ServiceCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        return root;
    }

    private static string FriendlyTypes(string message) => message
        .Replace("'System.Nullable`1[System.Double]'", "number", StringComparison.Ordinal)
        .Replace("'System.Nullable`1[System.Int32]'", "integer", StringComparison.Ordinal)
        .Replace("'System.Double'", "number", StringComparison.Ordinal)
        .Replace("'System.Int32'", "integer", StringComparison.Ordinal);

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ParseResult parse = CreateRoot().Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line per problem and a pointer to the help, instead of the whole help text.
            foreach (var problem in parse.Errors)
            {
                string where = problem.SymbolResult switch
                {
                    System.CommandLine.Parsing.OptionResult option => option.Option.Name + ": ",
                    System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult option } => option.Option.Name + ": ",
                    _ => "",
                };
                string message = string.Join(' ', problem.Message.Split((char[])['\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                error.WriteLine($"heed: error: {where}{FriendlyTypes(message)}");
            }

            string path = string.Join(' ', parse.CommandResult.Command.Parents.OfType<Command>().Reverse().Skip(1).Select(c => c.Name).Append(parse.CommandResult.Command.Name));
            error.WriteLine($"Run '{(parse.CommandResult.Command is RootCommand ? "heed" : "heed " + path)} --help' for usage.");
            return CliErrors.BadInput;
        }

        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}
