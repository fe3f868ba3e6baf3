using System.Text.Json;

namespace Heed.Cli;

/// <summary>Turns every failure a user can cause into one line on stderr and a non-zero exit code, never a stack trace.</summary>
internal static class CliErrors
{
    /// <summary>Exit code for bad input (files, shapes, flags).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for an error Heed did not expect (a bug): still one line.</summary>
    public const int Internal = 70;

    /// <summary>Runs <paramref name="action"/>, mapping exceptions to exit codes.</summary>
    public static int Guard(TextWriter error, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (HeedException ex)
        {
            error.WriteLine($"heed: error: {ex.Message}");
            return BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            error.WriteLine($"heed: error: {ex.Message}");
            return BadInput;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine("heed: error: not enough memory for this input");
            return BadInput;
        }
#pragma warning disable CA1031 // The last line of defence: any other failure is reported in one line, not as a stack trace.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error.WriteLine($"heed: internal error: {ex.GetType().Name}: {ex.Message}");
            return Internal;
        }
    }
}
