using System.Text.Json;

namespace Heed.Cli.Tests;

public sealed class LookupCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Default_is_the_seed_example_on_made_up_vectors()
    {
        var (code, output, error) = CliRunner.Run("lookup");
        Assert.True(code == 0, error);
        Assert.Contains("made up", output, StringComparison.Ordinal);
        Assert.Contains("apple       4.0000    0.5978", output, StringComparison.Ordinal);
        Assert.Contains("lookup(\"fruit\") = 0.5978*10.0000 + 0.4007*5.0000 + 0.0015*2.0000 = 7.9846", output, StringComparison.Ordinal);
        var (tableCode, table, _) = CliRunner.Run("lookup", "--format", "table");
        Assert.Equal(0, tableCode);
        Assert.Contains("lookup(\"fruit\") = 7.9846", table, StringComparison.Ordinal);
    }

    [Fact]
    public void Own_vectors_keys_and_values()
    {
        File.WriteAllText(_dir.File("v.txt"), "king 1 0\nqueen 0 1\nman 1 1\n");
        var (code, output, error) = CliRunner.Run("lookup", "--query", "king", "--keys", "queen,man", "--values", "1,3", "--vectors", _dir.File("v.txt"), "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        // scores: king.queen = 0, king.man = 1 → weights 1/(1+e), e/(1+e)
        double w1 = Math.E / (1 + Math.E);
        Assert.Equal(w1, doc.RootElement.GetProperty("weights")[1].GetDouble(), 14);
        Assert.Equal((1 - w1) + (3 * w1), doc.RootElement.GetProperty("blended").GetDouble(), 14);
    }

    [Fact]
    public void Scaled_divides_by_sqrt_d()
    {
        var (code, output, _) = CliRunner.Run("lookup", "--scaled", "--format", "json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(4 / Math.Sqrt(3), doc.RootElement.GetProperty("scores")[0].GetDouble(), 12);
    }

    [Theory]
    [InlineData("--keys: \"stool\" has no vector", "--keys", "apple,stool", "--values", "1,2")]
    [InlineData("--query: \"pear\" has no vector", "--query", "pear")]
    [InlineData("--values has 2 numbers for 3 keys", "--values", "1,2")]
    [InlineData("--values: \"x\" is not a number", "--values", "1,x,3")]
    [InlineData("--vectors: ", "--vectors", "/no/such/file.json")]
    public void Bad_input_is_one_line(string expected, params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(["lookup", .. args]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Equal("", stdout);
    }

    [Theory]
    [InlineData("v.json", """{"king": [1, 0], "queen": [0, 1e400], "man": [1, 1]}""", "--vectors: v.json: \"queen\"[1]: a number outside the float64 range")]
    [InlineData("v.txt", "king 1 0\nqueen 0 1e400\nman 1 1\n", "--vectors: v.txt line 2: \"1e400\" is not a finite number (number 2 of \"queen\")")]
    [InlineData("v.txt", "king 1 0\nqueen NaN 1\nman 1 1\n", "--vectors: v.txt line 2: \"NaN\" is not a finite number (number 1 of \"queen\")")]
    public void Non_finite_vectors_are_refused_naming_the_file_and_position(string file, string text, string expected)
    {
        File.WriteAllText(_dir.File(file), text);
        var (code, stdout, stderr) = CliRunner.Run("lookup", "--query", "king", "--keys", "queen,man", "--values", "1,3", "--vectors", _dir.File(file));
        Assert.Equal(2, code);
        Assert.Equal($"heed: error: {expected}\n", stderr);
        Assert.Equal("", stdout);
    }
}
