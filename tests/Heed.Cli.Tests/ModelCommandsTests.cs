namespace Heed.Cli.Tests;

/// <summary>heed generate, tokenize and models on the real stories260K model in ../shared (skipped with a reason when absent).</summary>
public class ModelCommandsTests
{
    private const string ModelFile = "models/stories260K/stories260K.bin";

    private const string GgufFile = "models/stories260K/stories260K.f32.gguf";

    private static string Model => TestPaths.Shared(ModelFile);

    private static string Tok => TestPaths.Shared("models", "stories260K", "tok512.bin");

    [SharedFact(ModelFile)]
    public void Generate_prints_exactly_what_run_c_prints_and_the_speed_only_on_stderr()
    {
        (int code, string output, string error) = CliRunner.Run("generate", "--model", Model, "--temperature", "0", "--steps", "200");
        Assert.Equal(0, code);
        string expected = File.ReadAllText(TestPaths.Shared("models", "stories260K", "expected-empty-prompt-200.txt"));
        Assert.Equal(expected + Environment.NewLine, output);
        Assert.Contains("tok/s", error, StringComparison.Ordinal);
    }

    [SharedFact(GgufFile)]
    public void Generate_on_the_gguf_file_prints_the_same_golden_text_with_the_tokenizer_it_carries()
    {
        (int code, string output, string error) = CliRunner.Run("generate", "--model", TestPaths.Shared(GgufFile), "--temperature", "0", "--steps", "200");
        Assert.Equal(0, code);
        string expected = File.ReadAllText(TestPaths.Shared("models", "stories260K", "expected-empty-prompt-200.txt"));
        Assert.Equal(expected + Environment.NewLine, output);
        Assert.Contains("tok/s", error, StringComparison.Ordinal);
        (int listed, string models, _) = CliRunner.Run("models", "--dir", TestPaths.Shared("models"));
        Assert.Equal(0, listed);
        Assert.Contains("stories260K.f32.gguf\tgguf llama\t", models, StringComparison.Ordinal);
        Assert.Contains("dim 64, layers 5, heads 8/4 kv, vocab 512, context 512, tensors F32", models, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile)]
    public void Generate_prints_the_prompt_first_and_a_seed_reproduces_a_sampled_text()
    {
        string[] args = ["generate", "--model", Model, "--tokenizer", Tok, "--prompt", "Once upon a time, Lily", "--steps", "40", "--temperature", "0.9", "--top-k", "40", "--seed", "7"];
        (int code, string first, _) = CliRunner.Run(args);
        (_, string second, _) = CliRunner.Run(args);
        Assert.Equal(0, code);
        Assert.StartsWith("Once upon a time, Lily", first, StringComparison.Ordinal);
        Assert.Equal(first, second);
    }

    [SharedTheory(ModelFile)]
    [InlineData("--steps", "0", "--steps 0")]
    [InlineData("--steps", "-3", "--steps -3")]
    [InlineData("--temperature", "-1", "--temperature -1")]
    [InlineData("--top-p", "2", "--top-p 2")]
    [InlineData("--top-k", "-1", "--top-k -1")]
    [InlineData("--seed", "0", "--seed 0")]
    [InlineData("--sampler", "beam", "--sampler")]
    public void Bad_sampling_options_fail_in_one_line_with_nothing_on_stdout(string flag, string value, string fragment)
    {
        (int code, string output, string error) = CliRunner.Run("generate", "--model", Model, flag, value);
        Assert.NotEqual(0, code);
        Assert.Equal("", output);
        Assert.Contains(fragment, error.Split('\n')[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile)]
    public void A_prompt_longer_than_the_context_is_refused()
    {
        string prompt = string.Join(' ', Enumerable.Repeat("zebra quixotic", 300));
        (int code, string output, string error) = CliRunner.Run("generate", "--model", Model, "--prompt", prompt, "--steps", "512");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Matches("^heed: error: prompt: [0-9]+ tokens but the model's context is 512\n$", error.ReplaceLineEndings("\n"));
    }

    [SharedFact(ModelFile)]
    public void A_tokenizer_of_another_vocabulary_is_refused()
    {
        (int code, string output, string error) = CliRunner.Run("generate", "--model", Model, "--tokenizer", TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf"));
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("tokenizer has 50257 tokens but the model's vocabulary has 512", error, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile)]
    public void A_truncated_checkpoint_is_refused_in_one_line()
    {
        using var folder = new TempFolder();
        byte[] bytes = File.ReadAllBytes(Model);
        File.WriteAllBytes(folder.File("cut.bin"), bytes[..(bytes.Length / 2)]);
        File.Copy(Tok, folder.File("tok512.bin"));
        (int code, string output, string error) = CliRunner.Run("generate", "--model", folder.File("cut.bin"));
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("truncated", error, StringComparison.Ordinal);
    }

    [SharedFact(ModelFile)]
    public void Tokenize_prints_ids_and_pieces()
    {
        (int code, string output, _) = CliRunner.Run("tokenize", "--tokenizer", Tok, "Once upon a time");
        Assert.Equal(0, code);
        Assert.Equal("1\t\"<s>\"\n403\t\" Once\"\n407\t\" upon\"\n261\t\" a\"\n378\t\" time\"\n", output.ReplaceLineEndings("\n"));
        (_, string ids, _) = CliRunner.Run("tokenize", "--tokenizer", Tok, "--ids", "--no-bos", "Once upon a time");
        Assert.Equal("403 407 261 378", ids.Trim());
    }

    [SharedFact(ModelFile)]
    public void Models_lists_what_is_on_disk()
    {
        (int code, string output, _) = CliRunner.Run("models", "--dir", TestPaths.Shared("models"));
        Assert.Equal(0, code);
        Assert.Contains("stories260K.bin\tllama2.c checkpoint\t1,056,540 bytes\tdim 64, layers 5, heads 8/4 kv, vocab 512, context 512", output.Replace('\\', '/'), StringComparison.Ordinal);
        Assert.Contains("tok512.bin\tllama2.c tokenizer", output, StringComparison.Ordinal);
        (int missing, _, string error) = CliRunner.Run("models", "--dir", "/nonexistent/models");
        Assert.Equal(2, missing);
        Assert.Contains("--dir /nonexistent/models: no such folder", error, StringComparison.Ordinal);
    }
}
