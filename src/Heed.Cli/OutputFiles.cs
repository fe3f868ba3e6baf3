using Heed.IO;

namespace Heed.Cli;

/// <summary>
/// Writes several output tensors as .npy files all or nothing: each goes to a temporary file beside its target,
/// and the targets are replaced only once every file was written.
/// </summary>
internal static class OutputFiles
{
    /// <summary>Checks, before any work, that each output's folder exists; the message names the flag.</summary>
    public static void CheckFolders(IEnumerable<(string Flag, string? Path)> outputs)
    {
        foreach ((string flag, string? path) in outputs)
        {
            if (path is null)
            {
                continue;
            }

            string full = Path.GetFullPath(path);
            string? folder = Path.GetDirectoryName(full);
            if (folder is not null && !Directory.Exists(folder))
            {
                throw new HeedException($"{flag} {path}: the folder {folder} does not exist");
            }

            if (Directory.Exists(full))
            {
                throw new HeedException($"{flag} {path}: is a folder; expected a file name");
            }
        }
    }

    /// <summary>Writes every (path, tensor) pair, or none of them.</summary>
    public static void WriteAll(IReadOnlyList<(string Flag, string Path, Tensor Tensor)> outputs)
    {
        var temporary = new List<(string Temp, string Target)>();
        try
        {
            foreach ((string flag, string path, Tensor tensor) in outputs)
            {
                string target = Path.GetFullPath(path);
                string temp = TemporaryFiles.PathIn(Path.GetDirectoryName(target)!);
                temporary.Add((temp, target));
                try
                {
                    using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write);
                    Npy.Write(stream, tensor);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new HeedException($"{flag} {path}: cannot write: {TemporaryFiles.Reason(ex, temp, target)}", ex);
                }
            }

            foreach ((string temp, string target) in temporary)
            {
                try
                {
                    File.Move(temp, target, overwrite: true);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    (string flag, string path, _) = outputs[temporary.FindIndex(t => t.Target == target)];
                    throw new HeedException($"{flag} {path}: cannot write: {TemporaryFiles.Reason(ex, temp, target)}", ex);
                }
            }

            temporary.Clear();
        }
        finally
        {
            foreach ((string temp, _) in temporary)
            {
                File.Delete(temp);
            }
        }
    }
}
