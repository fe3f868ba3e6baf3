using System.Text.Json;

namespace Heed.Cli.Tests;

/// <summary>`heed bench attention`: the JSON fields the issue names, the reused-output mode, and bad flags.</summary>
public sealed class BenchCommandTests
{
    private static readonly string[] Small = ["bench", "attention", "--batch", "1", "--heads", "4", "--kv-heads", "2", "--q-len", "64", "--kv-len", "80", "--head-size", "16", "--seconds", "0", "--min-iterations", "3", "--no-limits", "--json"];

    [Fact]
    public void Json_has_the_timings_and_memory_of_the_calls()
    {
        var (code, output, error) = CliRunner.Run(Small);
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement r = doc.RootElement;
        Assert.Equal("flash", r.GetProperty("kernel").GetString());
        Assert.True(r.GetProperty("iterations").GetInt32() >= 3);
        double min = r.GetProperty("min_ms").GetDouble(), median = r.GetProperty("median_ms").GetDouble(), max = r.GetProperty("max_ms").GetDouble();
        Assert.True(min > 0 && min <= median && median <= max, $"min {min}, median {median}, max {max}");

        // GFLOP/s is 4·B·H·T·S·D over the median time.
        Assert.Equal(4.0 * 4 * 64 * 80 * 16 / (median / 1000) / 1e9, r.GetProperty("gflops").GetDouble(), 6);

        // A new Y per call: 4 heads × 64 rows × 16 floats = 16 KiB of the allocation is the output, the rest is extra.
        long allocated = r.GetProperty("allocated_bytes").GetInt64(), extra = r.GetProperty("extra_bytes").GetInt64();
        Assert.Equal(allocated - (4 * 64 * 16 * 4), extra);
        Assert.False(r.GetProperty("reuse_output").GetBoolean());
    }

    [Fact]
    public void Backward_counts_two_and_a_half_times_the_forward_flops()
    {
        string[] args = ["bench", "attention", "--heads", "4", "--kv-heads", "2", "--q-len", "64", "--head-size", "16", "--causal", "--backward", "--seconds", "0", "--min-iterations", "2", "--no-limits"];
        var (code, output, error) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement r = doc.RootElement;
        Assert.Equal("backward", r.GetProperty("pass").GetString());
        Assert.Equal("flash", r.GetProperty("kernel").GetString());
        double median = r.GetProperty("median_ms").GetDouble();
        Assert.Equal(2.5 * 4.0 * 4 * 64 * 64 * 16 * 0.5 / (median / 1000) / 1e9, r.GetProperty("gflops").GetDouble(), 6);

        (code, output, error) = CliRunner.Run(args);
        Assert.True(code == 0, error);
        Assert.Contains("2.5x the forward's flops", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Backward_causal_with_a_past_is_one_line_and_exit_code_2()
    {
        var (code, output, error) = CliRunner.Run("bench", "attention", "--q-len", "8", "--kv-len", "16", "--causal", "--backward", "--no-limits");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal("heed: error: --backward --causal needs --kv-len equal to --q-len (the backward takes no past cache); got 8 and 16\n", error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Reuse_output_writes_every_call_into_one_tensor()
    {
        var (code, output, error) = CliRunner.Run([.. Small, "--reuse-output"]);
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(output);
        JsonElement r = doc.RootElement;
        Assert.True(r.GetProperty("reuse_output").GetBoolean());
        // No output counted: all that a call allocates is extra (the allocation itself, on the calling thread only, is checked in
        // Heed.Core's DestinationTests; the process-wide counter here also sees the tests running beside this one).
        Assert.Equal(r.GetProperty("allocated_bytes").GetInt64(), r.GetProperty("extra_bytes").GetInt64());
    }

    [Fact]
    public void A_bad_size_is_one_line_and_exit_code_2()
    {
        var (code, output, error) = CliRunner.Run("bench", "attention", "--q-len", "0", "--no-limits");
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, output);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("--q-len", error, StringComparison.Ordinal);
    }
}
