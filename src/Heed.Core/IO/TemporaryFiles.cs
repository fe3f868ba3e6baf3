using System.Security.Cryptography;

namespace Heed.IO;

/// <summary>
/// Names for the temporary files that make writes all or nothing. A temporary name is short and of fixed length
/// (<c>.heed-</c>, 12 random letters or digits, <c>.tmp</c>: 22 characters), never derived from the target's name, so
/// every target name the file system allows (255 bytes on most) can be written; and the temporary path never
/// reaches an error message, which names the file the user asked for.
/// </summary>
public static class TemporaryFiles
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>A fresh temporary path in <paramref name="folder"/> (the target's folder, so the final move is a rename).</summary>
    /// <param name="folder">The folder of the file being written.</param>
    public static string PathIn(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        return Path.Combine(folder, $".heed-{RandomNumberGenerator.GetString(Alphabet, 12)}.tmp");
    }

    /// <summary>
    /// The one-line text of a failure while writing <paramref name="temporary"/> for <paramref name="target"/>: the
    /// exception's message with the temporary path replaced by the target's.
    /// </summary>
    /// <param name="ex">The failure.</param>
    /// <param name="temporary">The temporary path that was being written; empty when none was yet.</param>
    /// <param name="target">The path the user named.</param>
    public static string Reason(Exception ex, string temporary, string target)
    {
        ArgumentNullException.ThrowIfNull(ex);
        ArgumentNullException.ThrowIfNull(temporary);
        string message = temporary.Length == 0 ? ex.Message : ex.Message.Replace(temporary, target, StringComparison.Ordinal);
        return TensorStreams.OneLine(message);
    }
}
