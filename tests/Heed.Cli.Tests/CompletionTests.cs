using System.Diagnostics;

namespace Heed.Cli.Tests;

/// <summary>Shell completion: the scripts 'heed completion' prints, and bash completing with one of them against the built heed.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly TempFolder _dir = new("heed-completion-");

    public void Dispose() => _dir.Dispose();

    /// <summary>Runs a bash script with a 'heed' on the PATH that starts the built heed.dll.</summary>
    private string Bash(string script)
    {
        string bin = _dir.File("bin");
        Directory.CreateDirectory(bin);
        string heed = Path.Combine(bin, "heed");
        File.WriteAllText(heed, $"#!/bin/sh\nexec dotnet \"{Path.Combine(AppContext.BaseDirectory, "heed.dll")}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(heed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.Environment["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "bash did not finish within two minutes");
        Assert.True(process.ExitCode == 0, error);
        return output.Result.ReplaceLineEndings("\n");
    }

    private static string Complete(string line) =>
        $"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; _heed_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"; echo ---; ";

    [Fact]
    public void Bash_completes_verbs_options_and_option_values()
    {
        string output = Bash("source <(heed completion bash) && " + Complete("heed atte") + Complete("heed generate --thr") + Complete("heed explain --format ") + Complete("heed service "));
        string[] answers = output.Split("---\n");
        Assert.Equal("attention\n", answers[0]);
        Assert.Equal("--threads\n", answers[1]);
        Assert.Equal("json\ntext\n", answers[2]);
        Assert.EndsWith("\ninstall\nstatus\nuninstall\n", answers[3], StringComparison.Ordinal); // after the help aliases
    }

    [Theory]
    [InlineData("bash", "complete -o default -F _heed_complete heed")]
    [InlineData("zsh", "compdef _heed heed")]
    [InlineData("pwsh", "Register-ArgumentCompleter -Native -CommandName heed")]
    public void Each_shell_gets_a_script_that_asks_heed_through_the_suggest_directive(string shell, string registration)
    {
        var (code, output, error) = CliRunner.Run("completion", shell);
        Assert.True(code == 0, error);
        Assert.Contains(registration, output, StringComparison.Ordinal);
        Assert.Contains("heed \"[suggest:", output, StringComparison.Ordinal);
    }
}
