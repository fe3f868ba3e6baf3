namespace Heed.Cli.Tests;

/// <summary>Runs the built heed executable as a separate process, as a user would.</summary>
public class ProcessTests
{
    private static (int Code, string Out, string Err) Heed(params string[] args) => CliRunner.Process(null, args);

    [Fact]
    public void Explain_runs_as_a_program()
    {
        var (code, output, _) = Heed("explain");
        Assert.Equal(0, code);
        Assert.Contains("output cat = [1.0644, 0.3977]", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_input_exits_non_zero_with_one_line()
    {
        var (code, output, error) = Heed("attention", "--q", "/no/such/q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "y.npy");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal("heed: error: --q: file not found: /no/such/q.npy", error.Trim());
    }

    [Fact]
    public void Help_lists_the_verbs()
    {
        var (code, output, _) = Heed("--help");
        Assert.Equal(0, code);
        Assert.Contains("attention", output, StringComparison.Ordinal);
        Assert.Contains("explain", output, StringComparison.Ordinal);
    }
}
