using System.Globalization;
using System.Text;
using Heed.Explain.Pictures;
using Spectre.Console;

namespace Heed.Explain.Terminal;

/// <summary>
/// Attention in the terminal with Spectre.Console: a heatmap of one head as coloured cells (with the numbers when the
/// window is wide enough), and tables of a trace's focus token and of a key-value lookup. Everything fits the console's width.
/// </summary>
public static class TerminalView
{
    private const int MaxLabel = 12;

    /// <summary>
    /// Draws one head as a grid: query tokens down the left, key tokens as vertical labels on top, each cell's background
    /// the weight's colour. Cells are 5 characters wide with the value, or 2 or 1 characters when the window is narrow;
    /// key tokens that still do not fit are left out with a note saying how many.
    /// </summary>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    public static void Heatmap(IAnsiConsole console, AttentionSet set, int layer, int head)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        ColorScale scale = ColorScale.Weights();
        string[] rows = set.QueryTokens.Select(t => TokenLabel.Display(t, MaxLabel)).ToArray();
        string[] cols = set.KeyTokens.Select(t => TokenLabel.Display(t, MaxLabel)).ToArray();
        int labelWidth = rows.Max(r => r.Length) + 1;
        int room = Math.Max(1, console.Profile.Width - labelWidth - 1);
        int cell = room >= set.KeyLength * 5 ? 5 : room >= set.KeyLength * 2 ? 2 : 1;
        int shown = Math.Min(set.KeyLength, Math.Max(1, room / cell));

        console.MarkupLine($"[bold]Layer {layer}, head {head}[/]: rows are query tokens, columns key tokens; colour = attention weight");
        int headerLines = cols.Take(shown).Max(c => c.Length);
        for (int line = 0; line < headerLines; line++)
        {
            var header = new StringBuilder(new string(' ', labelWidth));
            for (int j = 0; j < shown; j++)
            {
                string label = cols[j];
                int k = line - (headerLines - label.Length); // bottom-aligned vertical labels
                header.Append((k >= 0 ? label[k] : ' ').ToString().PadRight(cell));
            }

            console.WriteLine(header.ToString().TrimEnd());
        }

        for (int i = 0; i < set.QueryLength; i++)
        {
            var line = new StringBuilder(Markup.Escape(rows[i].PadLeft(labelWidth - 1))).Append(' ');
            for (int j = 0; j < shown; j++)
            {
                double w = set.Weight(layer, head, i, j);
                Rgb c = scale.Map(w);
                string ink = c.Luminance < 0.5 ? "white" : "black";
                string text = cell == 5 ? w.ToString("0.00", CultureInfo.InvariantCulture).PadRight(5) : new string(' ', cell);
                line.Append(CultureInfo.InvariantCulture, $"[{ink} on #{c.R:x2}{c.G:x2}{c.B:x2}]{text}[/]");
            }

            console.MarkupLine(line.ToString());
        }

        var legend = new StringBuilder("scale: 0.00 ");
        for (int k = 0; k <= 10; k++)
        {
            Rgb c = scale.Map(k / 10.0);
            legend.Append(CultureInfo.InvariantCulture, $"[on #{c.R:x2}{c.G:x2}{c.B:x2}]  [/]");
        }

        console.MarkupLine(legend.Append(" 1.00 (attention weight)").ToString());
        if (shown < set.KeyLength)
        {
            console.MarkupLine($"[yellow]{set.KeyLength - shown} of {set.KeyLength} key tokens do not fit in {console.Profile.Width} columns; widen the window, or use --out for pictures.[/]");
        }
    }

    /// <summary>A table of the focus token's steps: each key's K, score, weight (with a bar) and weighted V, then the output.</summary>
    /// <exception cref="HeedException">The focus row is out of range.</exception>
    public static void Trace(IAnsiConsole console, AttentionTrace trace, int focus)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(trace);
        if (focus < 0 || focus >= trace.Tokens.Count) throw new HeedException($"focus row {focus} is out of range: there are {trace.Tokens.Count} tokens");
        string f = Markup.Escape(trace.Tokens[focus]);
        console.MarkupLine($"[bold]\"{f}\"[/] attends to every token: Q_{f} = {Markup.Escape(TraceText.Vector(trace.Q[focus]))}, scale {TraceText.Number(trace.Scale)}");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("token j");
        table.AddColumn("K_j");
        table.AddColumn(new TableColumn("score").RightAligned());
        table.AddColumn(new TableColumn("weight").RightAligned());
        table.AddColumn("");
        table.AddColumn("weight * V_j");
        int bar = Math.Clamp(console.Profile.Width - 90, 4, 20); // the bar takes only the room the numbers leave
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            double w = trace.Weights[focus][j];
            int filled = (int)Math.Round(w * bar);
            table.AddRow(
                Markup.Escape(trace.Tokens[j]),
                Markup.Escape(TraceText.Vector(trace.K[j])),
                TraceText.Number(trace.Scores[focus][j]),
                TraceText.Number(w),
                "[blue]" + new string('#', filled) + "[/]" + new string('.', bar - filled),
                Markup.Escape(TraceText.Vector(trace.V[j].Select(x => w * x).ToArray())));
        }

        console.Write(table);
        console.MarkupLine($"output {f} = [bold]{Markup.Escape(TraceText.Vector(trace.Outputs[focus]))}[/]");
    }

    /// <summary>
    /// A table of a model head's focus token: each key it can see with its score, weight (with a bar) and the first numbers
    /// of weight·V_j, then the output.
    /// </summary>
    /// <exception cref="HeedException">The focus row is out of range.</exception>
    public static void ModelHead(IAnsiConsole console, HeadTrace trace, int focus)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(trace);
        if (focus < 0 || focus >= trace.QueryLength) throw new HeedException($"focus row {focus} is out of range: there are {trace.QueryLength} query tokens");
        string f = Markup.Escape(trace.QueryToken(focus));
        console.MarkupLine($"Layer {trace.Layer}, head {trace.Head}: [bold]\"{f}\"[/] attends to the tokens it can see; Q_{f} = {Markup.Escape(HeadTraceText.Vector(trace.Q[focus]))}, scale {TraceText.Number(trace.Scale)}");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn(new TableColumn("j").RightAligned());
        table.AddColumn("token j");
        table.AddColumn(new TableColumn("score").RightAligned());
        table.AddColumn(new TableColumn("weight").RightAligned());
        table.AddColumn("");
        table.AddColumn("weight * V_j (first numbers)");
        int bar = Math.Clamp(console.Profile.Width - 90, 4, 20); // the bar takes only the room the numbers leave
        int shownNumbers = Math.Clamp((console.Profile.Width - 60) / 9, 2, 6);
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            if (double.IsNegativeInfinity(trace.Scores[focus][j])) continue;
            double w = trace.Weights[focus][j];
            int filled = (int)Math.Round(w * bar);
            double[] weighted = trace.V[j].Take(shownNumbers).Select(x => w * x).ToArray();
            table.AddRow(
                j.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(TokenLabel.Display(trace.Tokens[j], MaxLabel)),
                TraceText.Number(trace.Scores[focus][j]),
                TraceText.Number(w),
                "[blue]" + new string('#', filled) + "[/]" + new string('.', bar - filled),
                Markup.Escape(TraceText.Vector(weighted) + (trace.V[j].Length > shownNumbers ? " ..." : "")));
        }

        console.Write(table);
        console.MarkupLine($"output {f} = [bold]{Markup.Escape(HeadTraceText.Vector(trace.Outputs[focus]))}[/]");
    }

    /// <summary>A table of a key-value lookup: each key's score, weight and share of the value, then the blended value.</summary>
    public static void Lookup(IAnsiConsole console, LookupResult result)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(result);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("key");
        table.AddColumn(new TableColumn("score q.k").RightAligned());
        table.AddColumn(new TableColumn("weight").RightAligned());
        table.AddColumn("");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddColumn(new TableColumn("weight * value").RightAligned());
        int bar = Math.Clamp(console.Profile.Width - 90, 4, 20); // the bar takes only the room the numbers leave
        for (int i = 0; i < result.Keys.Count; i++)
        {
            int filled = (int)Math.Round(result.Weights[i] * bar);
            table.AddRow(
                Markup.Escape(result.Keys[i]),
                TraceText.Number(result.Scores[i]),
                TraceText.Number(result.Weights[i]),
                "[blue]" + new string('#', filled) + "[/]" + new string('.', bar - filled),
                TraceText.Number(result.Values[i]),
                TraceText.Number(result.Weights[i] * result.Values[i]));
        }

        console.Write(table);
        console.MarkupLine($"lookup(\"{Markup.Escape(result.Query)}\") = [bold]{TraceText.Number(result.Blended)}[/]");
    }
}
