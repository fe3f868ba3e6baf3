using System.Globalization;
using Heed.Explain.Pictures;
using Spectre.Console;

namespace Heed.Explain.Terminal;

/// <summary>
/// The interactive terminal view (<c>heed show --interactive</c>): one head's heatmap and the focus token's strongest links,
/// redrawn as keys move through layers (↑/↓), heads (←/→) and focus tokens (Tab/Shift+Tab, or [ and ]); q or Esc leaves.
/// Keys are handled by <see cref="Handle"/> and drawing by <see cref="Render"/>, so the loop itself is a few lines.
/// </summary>
public sealed class TerminalExplorer
{
    private readonly AttentionSet _set;

    /// <summary>Starts at <paramref name="layer"/>, <paramref name="head"/> and query row <paramref name="focus"/>.</summary>
    /// <exception cref="HeedException">The layer, head or focus is out of range.</exception>
    public TerminalExplorer(AttentionSet set, int layer, int head, int focus)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        if (focus < 0 || focus >= set.QueryLength) throw new HeedException($"focus row {focus} is out of range: there are {set.QueryLength} query tokens");
        _set = set;
        Layer = layer;
        Head = head;
        Focus = focus;
    }

    /// <summary>The layer shown.</summary>
    public int Layer { get; private set; }

    /// <summary>The head shown.</summary>
    public int Head { get; private set; }

    /// <summary>The query row whose links are listed.</summary>
    public int Focus { get; private set; }

    /// <summary>Applies one key; false when the key ends the session (q, Esc, Ctrl+C).</summary>
    public bool Handle(ConsoleKeyInfo key)
    {
        switch (key.Key)
        {
            case ConsoleKey.Q or ConsoleKey.Escape:
                return false;
            case ConsoleKey.C when key.Modifiers.HasFlag(ConsoleModifiers.Control):
                return false;
            case ConsoleKey.UpArrow:
                Layer = (Layer + _set.Layers - 1) % _set.Layers;
                break;
            case ConsoleKey.DownArrow:
                Layer = (Layer + 1) % _set.Layers;
                break;
            case ConsoleKey.LeftArrow:
                Head = (Head + _set.Heads - 1) % _set.Heads;
                break;
            case ConsoleKey.RightArrow:
                Head = (Head + 1) % _set.Heads;
                break;
            case ConsoleKey.Tab when key.Modifiers.HasFlag(ConsoleModifiers.Shift):
            case ConsoleKey.Oem4: // [
                Focus = (Focus + _set.QueryLength - 1) % _set.QueryLength;
                break;
            case ConsoleKey.Tab:
            case ConsoleKey.Oem6: // ]
                Focus = (Focus + 1) % _set.QueryLength;
                break;
        }

        return true;
    }

    /// <summary>Draws the current layer and head, the focus token's five strongest links, and the keys.</summary>
    public void Render(IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        TerminalView.Heatmap(console, _set, Layer, Head);
        string focus = TokenLabel.Display(_set.QueryTokens[Focus]);
        var links = Enumerable.Range(0, _set.KeyLength)
            .Where(j => !_set.IsMasked(Layer, Head, Focus, j))
            .OrderByDescending(j => _set.Weight(Layer, Head, Focus, j))
            .Take(5)
            .Select(j => $"{TokenLabel.Display(_set.KeyTokens[j])} {_set.Weight(Layer, Head, Focus, j).ToString("0.00", CultureInfo.InvariantCulture)}");
        console.MarkupLine($"focus [bold]{Markup.Escape(focus)}[/] (row {Focus}) reads most from: {Markup.Escape(string.Join(", ", links))}");
        console.MarkupLine("[grey]up/down layer, left/right head, tab/shift+tab ([[ ]]) focus, q quit[/]");
    }
}
