using Heed.Explain.Seeds;
using Heed.Explain.Terminal;
using Spectre.Console;

namespace Heed.Explain.Tests;

public class TerminalViewTests
{
    private static (IAnsiConsole Console, StringWriter Writer) Console(int width)
    {
        var writer = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = width;
        return (console, writer);
    }

    [Fact]
    public void Wide_window_shows_every_value()
    {
        var (console, writer) = Console(100);
        TerminalView.Heatmap(console, AttentionSet.FromTrace(CatSatOnTheMat.Trace()), 0, 0);
        string text = writer.ToString();
        Assert.Contains("cat 0.24 0.09 0.24 0.09 0.24 0.09", text, StringComparison.Ordinal);
        Assert.DoesNotContain("do not fit", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 100, line));
    }

    [Fact]
    public void Narrow_window_drops_columns_and_says_so()
    {
        var (console, writer) = Console(30);
        TerminalView.Heatmap(console, Sets.Random(1, 1, 40), 0, 0);
        string text = writer.ToString();
        Assert.Contains("of 40 key tokens do not fit in 30 columns", System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " "), StringComparison.Ordinal);
        Assert.All(text.Split('\n').Where(l => !l.Contains("do not fit", StringComparison.Ordinal) && !l.StartsWith("Layer", StringComparison.Ordinal) && !l.StartsWith("scale", StringComparison.Ordinal)), line => Assert.True(line.Length <= 30, line));
    }

    [Fact]
    public void Trace_and_lookup_tables_hold_the_numbers()
    {
        var (console, writer) = Console(120);
        TerminalView.Trace(console, CatSatOnTheMat.Trace(), 1);
        TerminalView.Lookup(console, FruitLookup.Run());
        string text = writer.ToString();
        Assert.Contains("0.2437", text, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", text, StringComparison.Ordinal);
        Assert.Contains("lookup(\"fruit\") = 7.9846", text, StringComparison.Ordinal);
    }
}
