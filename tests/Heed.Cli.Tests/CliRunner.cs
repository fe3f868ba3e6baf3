using System.Diagnostics;

namespace Heed.Cli.Tests;

/// <summary>Runs the heed command, in-process or as a separate process, and captures its streams.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = HeedCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Runs the built heed.dll as a separate process, as a user would, with extra environment variables.</summary>
    public static (int Code, string Out, string Err) Process(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "heed.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using Process process = System.Diagnostics.Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "heed did not finish within a minute");
        return (process.ExitCode, output.Result, error.Result);
    }
}
