using System.CommandLine;

namespace Heed.Cli;

/// <summary>Options that several verbs share, checked while the command line is parsed so that a bad value is one line naming the flag.</summary>
internal static class CommonOptions
{
    /// <summary><c>--threads N</c>: at least 1; left out, every core.</summary>
    public static Option<int?> Threads(string description)
    {
        var option = new Option<int?>("--threads") { Description = description + " (default: every core)" };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is int n && n < 1) result.AddError($"--threads {n}: expected at least 1");
        });
        return option;
    }
}
