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
        Assert.All(text.Split('\n'), line => Assert.True(line.TrimEnd('\r').Length <= 30, line));
    }

    [Theory]
    [InlineData(40)]
    [InlineData(80)]
    [InlineData(200)]
    public void Every_line_fits_the_width_numbers_are_whole_and_masked_cells_are_marked(int width)
    {
        var (console, writer) = Console(width);
        AttentionSet set = Sets.Random(1, 1, 11, causal: true);
        TerminalView.Heatmap(console, set, 0, 0);
        string[] lines = writer.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.All(lines, line => Assert.True(line.Length <= width, $"{line.Length} > {width}: {line}"));
        Assert.Contains(lines, l => l.Contains("masked", StringComparison.Ordinal));
        string[] rows = [.. lines.Where(l => l.TrimStart().StartsWith('t') && l.Contains('·', StringComparison.Ordinal))];
        Assert.True(rows.Length >= 9, $"rows with masked cells: {rows.Length}");
        if (width >= 80)
        {
            // Wide enough for values: each row's numbers are whole "0.dd" groups, and row 0 sees only itself.
            string first = lines.First(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s*t0 \d"));
            Assert.Matches(@"^\s*t0 1\.00\s+(·\s*){10}$", first);
        }
        else
        {
            // Narrow: columns are numbered and named in a key below.
            Assert.Contains(lines, l => l.StartsWith("columns: 0:t0 1:t1", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Whitespace_and_word_start_tokens_get_a_visible_space_mark_and_the_bar_column_a_header()
    {
        var (console, writer) = Console(120);
        string[] tokens = [" ", "\u2581cat", "snake_case"];
        var set = new AttentionSet(tokens, tokens, [[[1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]]]);
        TerminalView.Heatmap(console, set, 0, 0);
        TerminalView.Lookup(console, FruitLookup.Run());
        string text = writer.ToString();
        Assert.Contains("␣cat", text, StringComparison.Ordinal);
        Assert.Matches(@"\n\s+␣ 1\.00", text.Replace("\r", "", StringComparison.Ordinal));
        Assert.Contains("snake_case", text, StringComparison.Ordinal);
        Assert.Contains("weight bar", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_interactive_view_moves_through_layers_heads_and_focus_with_keys()
    {
        AttentionSet set = Sets.Random(3, 4, 5, causal: true);
        var explorer = new TerminalExplorer(set, 0, 0, 0);
        static ConsoleKeyInfo Key(ConsoleKey key, bool shift = false) => new('\0', key, shift, false, false);
        Assert.True(explorer.Handle(Key(ConsoleKey.DownArrow)));
        Assert.True(explorer.Handle(Key(ConsoleKey.RightArrow)));
        Assert.True(explorer.Handle(Key(ConsoleKey.RightArrow)));
        Assert.True(explorer.Handle(Key(ConsoleKey.Tab)));
        Assert.Equal((1, 2, 1), (explorer.Layer, explorer.Head, explorer.Focus));
        Assert.True(explorer.Handle(Key(ConsoleKey.UpArrow)));
        Assert.True(explorer.Handle(Key(ConsoleKey.UpArrow)));      // wraps to the last layer
        Assert.True(explorer.Handle(Key(ConsoleKey.Tab, shift: true)));
        Assert.True(explorer.Handle(Key(ConsoleKey.Tab, shift: true))); // wraps to the last token
        Assert.Equal((2, 2, 4), (explorer.Layer, explorer.Head, explorer.Focus));
        var (console, writer) = Console(80);
        explorer.Render(console);
        string text = writer.ToString();
        Assert.Contains("Layer 2, head 2", text, StringComparison.Ordinal);
        string strongest = Enumerable.Range(0, 5).OrderByDescending(j => set.Weight(2, 2, 4, j)).Select(j => $"t{j} {set.Weight(2, 2, 4, j):0.00}").First();
        Assert.Contains("reads most from: " + strongest, text, StringComparison.Ordinal);
        Assert.False(explorer.Handle(Key(ConsoleKey.Q)));
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
