namespace Heed.Cli;

/// <summary>
/// Progress of long work on stderr: in a terminal one line rewritten in place, elsewhere (a log, a pipe) one line per update;
/// updates come at most twice a second unless forced, so a quick run prints a few lines and a run of minutes shows it is alive.
/// </summary>
internal sealed class ProgressLine(TextWriter error) : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private readonly bool _inPlace = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
    private long _last = long.MinValue;
    private int _width;

    public void Show(string text, bool force = false)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!force && _last != long.MinValue && System.Diagnostics.Stopwatch.GetElapsedTime(_last, now) < Interval) return;
        _last = now;
        if (_inPlace)
        {
            error.Write("\r" + text.PadRight(_width));
            _width = text.Length;
        }
        else
        {
            error.WriteLine(text);
        }

        error.Flush();
    }

    /// <summary>Ends the line in a terminal, so what follows starts on a clean one.</summary>
    public void Finish()
    {
        if (_inPlace && _width > 0) error.WriteLine();
        _width = 0;
    }

    public void Dispose() => Finish();
}
