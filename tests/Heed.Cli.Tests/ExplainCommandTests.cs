using System.Text.Json;

namespace Heed.Cli.Tests;

public class ExplainCommandTests
{
    [Fact]
    public void Text_walks_through_the_seed_and_prints_the_exact_output()
    {
        var (code, output, error) = CliRunner.Run("explain");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Contains("output cat = [1.0644, 0.3977]", output, StringComparison.Ordinal);
        Assert.Contains("cat & sat  1.0000", output, StringComparison.Ordinal);
        Assert.Contains("cat & on   0.0896", output, StringComparison.Ordinal);
        Assert.Contains("cat & The  0.2437", output, StringComparison.Ordinal);
        Assert.Contains("W_K = [[0.0000, 1.0000], [1.0000, 0.0000]]", output, StringComparison.Ordinal);
        Assert.Contains("1.066", output, StringComparison.Ordinal);       // the seed's rounded figure, named as a slip
        Assert.Contains("[[1, 1], [1, -1]]", output, StringComparison.Ordinal); // Step 2's printed matrices, named as a slip
    }

    [Fact]
    public void Json_has_the_whole_trace()
    {
        var (code, output, _) = CliRunner.Run("explain", "--format", "json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal(6, root.GetProperty("tokens").GetArrayLength());
        Assert.Equal("cat", root.GetProperty("focus").GetString());
        Assert.Equal(1.0, root.GetProperty("scale").GetDouble());
        JsonElement cat = root.GetProperty("outputs")[1];
        double e = Math.E, sum = (3 * e) + 3;
        Assert.Equal((4 * e / sum) + (1 / sum), cat[0].GetDouble(), 12);
        Assert.Equal((2 * e / sum) - (1 / sum), cat[1].GetDouble(), 12);
        Assert.Equal(1.0644, cat[0].GetDouble(), 4);
        Assert.Equal(0.3977, cat[1].GetDouble(), 4);
        // Q, K, V of "on" = [0, -1]: Q = [0, -1], K = [-1, 0], V = [-1, 1]
        Assert.Equal([0.0, -1.0], root.GetProperty("q")[3].EnumerateArray().Select(x => x.GetDouble()));
        Assert.Equal([-1.0, 0.0], root.GetProperty("k")[3].EnumerateArray().Select(x => x.GetDouble()));
        Assert.Equal([-1.0, 1.0], root.GetProperty("v")[3].EnumerateArray().Select(x => x.GetDouble()));
        Assert.Equal(6, root.GetProperty("weights").GetArrayLength());
        Assert.Equal([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], root.GetProperty("scores")[1].EnumerateArray().Select(x => x.GetDouble()));
        Assert.Equal(2, root.GetProperty("seedSlips").GetArrayLength());
    }

    [Fact]
    public void Scaled_divides_the_scores_by_sqrt_d()
    {
        var (code, output, _) = CliRunner.Run("explain", "--format", "json", "--scaled");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(1 / Math.Sqrt(2), doc.RootElement.GetProperty("scale").GetDouble(), 15);
        Assert.Equal(1 / Math.Sqrt(2), doc.RootElement.GetProperty("scores")[1][0].GetDouble(), 15);
    }

    [Fact]
    public void Unknown_format_is_refused()
    {
        var (code, _, error) = CliRunner.Run("explain", "--format", "yaml");
        Assert.NotEqual(0, code);
        Assert.Contains("yaml", error, StringComparison.Ordinal);
    }
}
