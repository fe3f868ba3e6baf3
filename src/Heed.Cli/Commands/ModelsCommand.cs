using System.CommandLine;
using System.Globalization;
using Heed.Models;

namespace Heed.Cli.Commands;

/// <summary><c>heed models</c>: the models, tokenizers and vocabularies on disk.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "Folder to search (default: $HEED_MODELS, else ~/.heed/models, where heed pull puts files)" };
        var command = new Command("models", "List the models, tokenizers and vocabularies in a folder (recognized by their content).")
        {
            dir,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            string root = parse.GetValue(dir) ?? ModelFiles.DefaultDirectory;
            TextWriter output = parse.InvocationConfiguration.Output;
            if (!Directory.Exists(root))
            {
                if (parse.GetValue(dir) is not null)
                {
                    throw new HeedException($"--dir {root}: no such folder");
                }

                output.WriteLine($"no models yet: {root} does not exist (heed pull puts models there)");
                return 0;
            }

            IReadOnlyList<ModelFileInfo> found = ModelFiles.Scan(root);
            if (found.Count == 0)
            {
                output.WriteLine($"no models under {root}");
                return 0;
            }

            foreach (ModelFileInfo f in found)
            {
                string size = f.Bytes.ToString("N0", CultureInfo.InvariantCulture);
                output.WriteLine($"{Path.GetRelativePath(root, f.Path)}\t{f.Kind}\t{size} bytes\t{f.Details}");
            }

            return 0;
        }));
        return command;
    }
}
