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
    /// Draws one head as a grid that fits the console's width: query tokens down the left, each cell's background the weight's
    /// colour. Cells are 5 characters wide with the value ("0.25"), or 2 or 1 characters when the window is narrow; a number
    /// is never split. Column headers are the key tokens when they fit the cell, else column numbers with a key below that
    /// names each; masked cells (never attended) are a grey '·', never a white "0.00". Key tokens that still do not fit are
    /// left out with a note saying how many. No line is longer than the console's width.
    /// </summary>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    public static void Heatmap(IAnsiConsole console, AttentionSet set, int layer, int head)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        int width = Math.Max(20, console.Profile.Width);
        ColorScale scale = ColorScale.Weights();
        int maxLabel = Math.Clamp(width / 4, 4, MaxLabel);
        string[] rows = set.QueryTokens.Select(t => TokenLabel.Display(t, maxLabel)).ToArray();
        string[] cols = set.KeyTokens.Select(t => TokenLabel.Display(t, MaxLabel)).ToArray();
        int labelWidth = rows.Max(r => r.Length) + 1;
        int room = Math.Max(1, width - labelWidth - 1);
        int cell = room >= set.KeyLength * 5 ? 5 : room >= set.KeyLength * 2 ? 2 : 1;
        int shown = Math.Min(set.KeyLength, Math.Max(1, room / cell));
        bool anyMasked = false;

        WriteWrapped(console, $"Layer {layer}, head {head}: rows are query tokens, columns key tokens, colour = attention weight", width, "bold");
        bool named = cols.Take(shown).All(c => c.Length < cell);

        // Column headers: the tokens when each fits its cell; else column numbers, each written where it has room (a number
        // wider than its cell spans the next ones, so with narrow cells only every few columns get one), named by the key below.
        char[] header = new string(' ', shown * cell).ToCharArray();
        int free = 0;
        for (int j = 0; j < shown; j++)
        {
            string label = named ? cols[j] : j.ToString(CultureInfo.InvariantCulture);
            int at = j * cell;
            if (at < free || at + label.Length > header.Length) continue;
            label.CopyTo(0, header, at, label.Length);
            free = at + label.Length + 1;
        }

        var headerLine = new StringBuilder(new string(' ', labelWidth)).Append(header);
        console.WriteLine(Fit(headerLine.ToString().TrimEnd(), width));
        for (int i = 0; i < set.QueryLength; i++)
        {
            var line = new StringBuilder(Markup.Escape(rows[i].PadLeft(labelWidth - 1))).Append(' ');
            for (int j = 0; j < shown; j++)
            {
                double w = set.Weight(layer, head, i, j);
                if (set.IsMasked(layer, head, i, j))
                {
                    anyMasked = true;
                    string dot = cell == 5 ? "  ·  " : cell == 2 ? "· " : "·";
                    line.Append(CultureInfo.InvariantCulture, $"[grey42 on #{MaskedBackground}]{dot}[/]");
                    continue;
                }

                Rgb c = scale.Map(w);
                string ink = c.Luminance < 0.5 ? "white" : "black";
                string text = cell == 5 ? w.ToString("0.00", CultureInfo.InvariantCulture).PadRight(5) : new string(' ', cell);
                line.Append(CultureInfo.InvariantCulture, $"[{ink} on #{c.R:x2}{c.G:x2}{c.B:x2}]{text}[/]");
            }

            console.MarkupLine(line.ToString());
        }

        // The scale, as wide as the window allows: 0.00, coloured steps, 1.00 and what the colours are.
        int steps = Math.Clamp((width - 30) / 2, 3, 11);
        var legend = new StringBuilder("scale: 0.00 ");
        for (int k = 0; k < steps; k++)
        {
            Rgb c = scale.Map(k / (double)(steps - 1));
            legend.Append(CultureInfo.InvariantCulture, $"[on #{c.R:x2}{c.G:x2}{c.B:x2}]  [/]");
        }

        int legendLength = 12 + (2 * steps) + 5;
        legend.Append(" 1.00");
        if (legendLength + 19 <= width) legend.Append(" (attention weight)");
        console.MarkupLine(legend.ToString());
        if (anyMasked) WriteWrapped(console, "· on grey: masked (the query never attends to that key), not a learned zero", width);
        if (!named)
        {
            WriteWrapped(console, "columns: " + string.Join(" ", Enumerable.Range(0, shown).Select(j => $"{j}:{cols[j]}")), width);
        }

        if (shown < set.KeyLength)
        {
            WriteWrapped(console, $"{set.KeyLength - shown} of {set.KeyLength} key tokens do not fit in {width} columns; widen the window, or use --out for pictures.", width, "yellow");
        }
    }

    /// <summary>The background of a masked cell (the pictures' light grey).</summary>
    private const string MaskedBackground = "e8e8e8";

    /// <summary>Writes <paramref name="text"/> in lines of at most <paramref name="width"/> characters, breaking between words.</summary>
    private static void WriteWrapped(IAnsiConsole console, string text, int width, string? style = null)
    {
        var line = new StringBuilder();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string piece = word.Length > width ? word[..width] : word;
            if (line.Length > 0 && line.Length + 1 + piece.Length > width)
            {
                Write(line.ToString());
                line.Clear();
            }

            if (line.Length > 0) line.Append(' ');
            line.Append(piece);
        }

        if (line.Length > 0) Write(line.ToString());

        void Write(string s) => console.MarkupLine(style is null ? Markup.Escape(s) : $"[{style}]{Markup.Escape(s)}[/]");
    }

    private static string Fit(string text, int width) => text.Length <= width ? text : text[..width];

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
        table.AddColumn("weight bar");
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
        table.AddColumn("weight bar");
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
        table.AddColumn("weight bar");
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
