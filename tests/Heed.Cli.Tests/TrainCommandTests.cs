using System.Text.Json;
using System.Text.Json.Nodes;

namespace Heed.Cli.Tests;

/// <summary>heed train: outputs, checkpoints that heed explain loads, resume, and one-line refusals.</summary>
public sealed class TrainCommandTests : IDisposable
{
    private static readonly string[] Tiny = ["--layers", "1", "--heads", "2", "--width", "16", "--context", "12", "--batch-size", "4", "--threads", "1"];

    private readonly TempFolder _dir = new("heed-train-cli-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Out_holds_checkpoints_that_heed_explain_loads_the_loss_curve_and_attention_pictures()
    {
        string output = _dir.File("run");
        var (code, stdout, error) = CliRunner.Run(["train", "--task", "induction", "--steps", "6", "--checkpoint-every", "3", "--out", output, .. Tiny]);
        Assert.True(code == 0, error);
        Assert.StartsWith("step 6: loss ", stdout, StringComparison.Ordinal);
        Assert.Contains("induction score", stdout, StringComparison.Ordinal);
        Assert.Contains("heed: step 6/6  loss ", error, StringComparison.Ordinal);
        foreach (string step in (string[])["step-000003", "step-000006"])
        {
            foreach (string file in (string[])["config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors", "trainer.json"])
            {
                Assert.True(File.Exists(Path.Combine(output, "checkpoints", step, file)), $"{step}/{file}");
            }

            Assert.Single(Directory.GetFiles(Path.Combine(output, "attention"), step + "-layer*-head*.png"));
            Assert.True(File.Exists(Path.Combine(output, "attention", step + "-model-view.svg")));
        }

        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(output, "loss.svg")).TrimStart().Split('\n').First(l => l.StartsWith("<svg", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(output, "loss.png"))[..4]);
        Assert.Equal("checkpoints/step-000006", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(output, "heed-training.json")))!["latest"]);

        string model = Path.Combine(output, "checkpoints", "step-000006");
        (code, stdout, error) = CliRunner.Run("explain", "--model", model, "--prompt", "abcdefabcdef", "--layer", "0", "--head", "1", "--format", "json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("gpt2", doc.RootElement.GetProperty("architecture").GetString());
        Assert.Equal(12, doc.RootElement.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    public void Resume_continues_exactly_as_an_uninterrupted_run_and_the_same_seed_repeats_it()
    {
        string whole = _dir.File("whole"), parts = _dir.File("parts"), again = _dir.File("again");
        Assert.Equal(0, CliRunner.Run(["train", "--task", "seed", "--steps", "8", "--seed", "5", "--out", whole, .. Tiny]).Code);
        Assert.Equal(0, CliRunner.Run(["train", "--task", "seed", "--steps", "8", "--seed", "5", "--out", again, .. Tiny]).Code);
        Assert.Equal(0, CliRunner.Run(["train", "--task", "seed", "--steps", "3", "--seed", "5", "--out", parts, .. Tiny]).Code);
        var (code, stdout, error) = CliRunner.Run("train", "--resume", parts, "--steps", "8", "--out", parts);
        Assert.True(code == 0, error);
        Assert.StartsWith("step 8: loss ", stdout, StringComparison.Ordinal);

        static JsonNode? Losses(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "checkpoints", "step-000008", "trainer.json")))!["losses"];
        Assert.Equal(Losses(whole)!.ToJsonString(), Losses(parts)!.ToJsonString());
        Assert.Equal(Losses(whole)!.ToJsonString(), Losses(again)!.ToJsonString());
        Assert.Equal(8, Losses(whole)!.AsArray().Count);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "checkpoints", "step-000008", "model.safetensors")), File.ReadAllBytes(Path.Combine(parts, "checkpoints", "step-000008", "model.safetensors")));
    }

    [Fact]
    public void Chars_trains_on_a_text_file()
    {
        string text = _dir.File("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 10)));
        var (code, stdout, error) = CliRunner.Run(["train", "--task", "chars", "--text", text, "--steps", "3", "--out", _dir.File("chars"), .. Tiny]);
        Assert.True(code == 0, error);
        Assert.StartsWith("step 3: loss ", stdout, StringComparison.Ordinal);
        string vocab = File.ReadAllText(Path.Combine(_dir.File("chars"), "checkpoints", "step-000003", "vocab.json"));
        Assert.Contains("\"\\u0120\"", vocab, StringComparison.Ordinal); // the space byte, as GPT-2's byte-level "Ġ"
    }

    [Fact]
    public void A_folder_with_other_files_is_refused_and_left_as_it_was()
    {
        string folder = _dir.File("mine");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "keep me");
        var (code, stdout, error) = CliRunner.Run(["train", "--steps", "2", "--out", folder, .. Tiny]);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal($"heed: error: --out {folder}: the folder is not empty and is not a heed train output; choose a new or empty folder", error.TrimEnd('\n', '\r'));
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("heed: error: --task chars needs --text FILE", "--task", "chars")]
    [InlineData("heed: error: --width 18: expected a positive multiple of --heads 4", "--width", "18", "--heads", "4")]
    [InlineData("heed: error: --text missing.txt: no such file", "--task", "chars", "--text", "missing.txt")]
    [InlineData("heed: error: --task poetry: expected one of seed, induction, induction-shifted, chars", "--task", "poetry")]
    [InlineData("heed: error: --text is for --task chars, not induction", "--text", "TEXT")]
    [InlineData("heed: error: --checkpoint-every 0: expected at least 1", "--checkpoint-every", "0")]
    public void Bad_input_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        string text = _dir.File("t.txt");
        File.WriteAllText(text, "abc");
        string[] all = ["train", "--steps", "1", .. args.Select(a => a == "TEXT" ? text : a)];
        var (code, stdout, error) = CliRunner.Run(all);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal(expected, error.TrimEnd('\n', '\r'));
        Assert.Single(error.TrimEnd('\n', '\r').Split('\n'));
    }

    [Fact]
    public void Resume_from_a_folder_that_is_not_a_checkpoint_is_one_line()
    {
        var (code, _, error) = CliRunner.Run("train", "--resume", _dir.Path);
        Assert.Equal(2, code);
        Assert.Contains("neither a checkpoint", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
    }
}
