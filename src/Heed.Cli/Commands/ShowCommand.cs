using System.CommandLine;
using Heed.Explain.Terminal;
using Spectre.Console;

namespace Heed.Cli.Commands;

/// <summary><c>heed show</c>: attention in the terminal, a coloured heatmap of one head and the focus token's table, sized to the window.</summary>
internal static class ShowCommand
{
    public static Command Create()
    {
        var reference = new Option<bool>("--reference") { Description = "Replay the run through the float64 reference and print the largest difference" };
        var scaled = new Option<bool>("--scaled") { Description = "Seed example: divide the scores by sqrt(d)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "In a terminal: move through layers (up/down), heads (left/right) and focus tokens (tab) with the keys; q quits. Without it, heed show prints once (as when piped)" };
        var sources = new ExplainCommand.SourceOptions();
        var command = new Command("show", "Show attention in the terminal: a coloured heatmap of one head and a table of the focus token's steps (the seed example by default; same inputs as 'heed explain').")
        {
            scaled, reference, interactive,
        };
        sources.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            ExplainCommand.Explained run = sources.Resolve(parse, parse.GetValue(scaled), parse.GetValue(reference));
            IReadOnlyList<string> written = run.WritePictures(parse.GetValue(sources.Out));
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(interactive))
            {
                if (Console.IsInputRedirected || Console.IsOutputRedirected)
                {
                    throw new HeedException("--interactive needs a terminal (its input and output are redirected here); without it heed show prints once");
                }

                Explore(run, output);
                return 0;
            }

            run.ShowInTerminal(output, parse.GetValue(sources.Width));
            if (written.Count > 0) output.WriteLine($"Wrote {written.Count} files to {Path.GetDirectoryName(written[0])}");
            return 0;
        }));
        return command;
    }

    // Redraws after every key until q, Esc or Ctrl+C.
    private static void Explore(ExplainCommand.Explained run, TextWriter output)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        var explorer = new TerminalExplorer(run.Set, run.Layer, run.Head ?? 0, Math.Min(run.Focus, run.Set.QueryLength - 1));
        Console.TreatControlCAsInput = true;
        try
        {
            do
            {
                console.Clear();
                explorer.Render(console);
            }
            while (explorer.Handle(Console.ReadKey(intercept: true)));
        }
        finally
        {
            Console.TreatControlCAsInput = false;
        }
    }
}
