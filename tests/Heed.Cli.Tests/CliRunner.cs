namespace Heed.Cli.Tests;

/// <summary>Runs the heed command in-process and captures its streams.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = HeedCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
