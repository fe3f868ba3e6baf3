using System.CommandLine;

namespace Heed.Cli.Commands;

/// <summary><c>heed show</c>: attention in the terminal, a coloured heatmap of one head and the focus token's table, sized to the window.</summary>
internal static class ShowCommand
{
    public static Command Create()
    {
        var reference = new Option<bool>("--reference") { Description = "Replay the run through the float64 reference and print the largest difference" };
        var scaled = new Option<bool>("--scaled") { Description = "Seed example: divide the scores by sqrt(d)" };
        var sources = new ExplainCommand.SourceOptions();
        var command = new Command("show", "Show attention in the terminal: a coloured heatmap of one head and a table of the focus token's steps (the seed example by default; same inputs as 'heed explain').")
        {
            scaled, reference,
        };
        sources.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            ExplainCommand.Explained run = sources.Resolve(parse, parse.GetValue(scaled), parse.GetValue(reference));
            IReadOnlyList<string> written = run.WritePictures(parse.GetValue(sources.Out));
            TextWriter output = parse.InvocationConfiguration.Output;
            run.ShowInTerminal(output, parse.GetValue(sources.Width));
            if (written.Count > 0) output.WriteLine($"Wrote {written.Count} files to {Path.GetDirectoryName(written[0])}");
            return 0;
        }));
        return command;
    }
}
