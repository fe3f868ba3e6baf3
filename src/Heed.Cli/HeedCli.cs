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
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        return CreateRoot().Parse(args).Invoke(configuration);
    }
}
