using System.CommandLine;
using Heed.IO;

namespace Heed.Cli.Tests;

/// <summary>
/// The command line as a new user meets it: help with no arguments, one line with a suggestion for a typo, one line for every
/// parse error, each default shown once, flag conflicts named as typed, and the fixes of the first-run report.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly TempFolder _dir = new("heed-cli-edges-");

    public void Dispose() => _dir.Dispose();

    private static void AssertOneLine(string expected, (int Code, string Out, string Err) run)
    {
        Assert.Equal("", run.Out);
        Assert.Equal(expected + "\n", run.Err.ReplaceLineEndings("\n"));
        Assert.Equal(2, run.Code);
    }

    [Fact]
    public void No_arguments_print_the_help()
    {
        var (code, output, error) = CliRunner.Run();
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.StartsWith("Description:", output, StringComparison.Ordinal);
        Assert.Contains(" [command] [options]", output, StringComparison.Ordinal); // the root's name is the host's: heed, or testhost in-process
        Assert.Contains("  attention ", output, StringComparison.Ordinal);
        Assert.Contains("  completion ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bare_group_prints_its_help()
    {
        var (code, output, error) = CliRunner.Run("service");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Contains(" service [command] [options]", output, StringComparison.Ordinal);
        Assert.Contains("  install ", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("heed: error: unknown command 'atention' for 'heed' (did you mean 'attention'?)", "atention")]
    [InlineData("heed: error: unknown command 'explian' for 'heed' (did you mean 'explain'?)", "explian")]
    [InlineData("heed: error: unknown command 'instal' for 'heed service' (did you mean 'install'?)", "service", "instal")]
    [InlineData("heed: error: unknown command 'frobnicate' for 'heed'; the commands are attention, explain, generate, tokenize, embed, models, pull, lookup, show, serve, mcp, service, train, bench, completion", "frobnicate")]
    [InlineData("heed: error: unknown option '--treads' for 'heed generate' (did you mean '--threads'?)", "generate", "--model", "m.bin", "--treads", "2")]
    [InlineData("heed: error: unknown option '--formt' for 'heed explain' (did you mean '--format'?)", "explain", "--formt", "json")]
    [InlineData("heed: error: unknown option '--is-casual' for 'heed attention' (did you mean '--is-causal'?)", "attention", "--is-casual")]
    [InlineData("heed: error: unknown option '--threads' for 'heed explain'; see 'heed explain --help'", "explain", "--threads", "-3")]
    [InlineData("heed: error: unexpected argument 'extra' for 'heed models'; see 'heed models --help'", "models", "extra")]
    public void Unknown_words_are_one_line_with_the_closest_match(string expected, params string[] args) => AssertOneLine(expected, CliRunner.Run(args));

    [Theory]
    [InlineData("heed: error: 'heed attention' needs --q, --k, --v and --out; see 'heed attention --help'", "attention")]
    [InlineData("heed: error: 'heed attention' needs --v and --out; see 'heed attention --help'", "attention", "--q", "q.npy", "--k", "k.npy")]
    [InlineData("heed: error: --q needs a value", "attention", "--q")]
    [InlineData("heed: error: --steps abc: expected an integer", "generate", "--model", "m.bin", "--steps", "abc")]
    [InlineData("heed: error: --scale big: expected a number", "attention", "--q", "q", "--k", "k", "--v", "v", "--out", "y", "--scale", "big")]
    [InlineData("heed: error: --format xml: expected one of text, json", "explain", "--format", "xml")]
    [InlineData("heed: error: --dtype flaot32: expected one of float32, float16, bfloat16, float64 (did you mean 'float32'?)", "bench", "attention", "--dtype", "flaot32")]
    [InlineData("heed: error: 'heed tokenize' needs the text argument; see 'heed tokenize --help'", "tokenize", "--tokenizer", "tok.bin")]
    [InlineData("heed: error: heed completion fish: expected one of bash, zsh, pwsh", "completion", "fish")]
    public void Parse_errors_are_one_line(string expected, params string[] args) => AssertOneLine(expected, CliRunner.Run(args));

    [Theory]
    [InlineData("attention", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "y.npy", "--threads", "-3")]
    [InlineData("bench", "attention", "--threads", "-3")]
    [InlineData("generate", "--model", "m.bin", "--threads", "-3")]
    public void Threads_below_one_are_named_as_the_flag(params string[] args) =>
        AssertOneLine("heed: error: --threads -3: expected at least 1", CliRunner.Run(args));

    /// <summary>Every option of every verb: its default appears once, in the description or in System.CommandLine's [default: …], never both.</summary>
    [Fact]
    public void Help_shows_each_default_once()
    {
        var pending = new Stack<Command>([HeedCli.CreateRoot()]);
        int checkedCommands = 0;
        while (pending.Count > 0)
        {
            Command command = pending.Pop();
            foreach (Command sub in command.Subcommands) pending.Push(sub);
            string[] path = [.. HeedCli.CommandPath(command).Skip(1)];
            var (code, output, _) = CliRunner.Run([.. path, "--help"]);
            Assert.Equal(0, code);
            foreach (string line in output.Split('\n'))
            {
                Assert.False(line.Contains("(default", StringComparison.OrdinalIgnoreCase) && line.Contains("[default:", StringComparison.Ordinal), $"heed {string.Join(' ', path)} --help shows a default twice: {line.Trim()}");
            }

            checkedCommands++;
        }

        Assert.True(checkedCommands >= 16, $"only {checkedCommands} commands were checked");
        string generate = CliRunner.Run("generate", "--help").Out;
        Assert.Contains("Threads for the matrix products (default: every core)", generate, StringComparison.Ordinal);
        Assert.DoesNotContain("all cores", generate, StringComparison.Ordinal);
    }

    [Fact]
    public void Terminal_view_and_json_format_are_refused_together()
    {
        AssertOneLine(
            "heed: error: --view terminal and --format json cannot be combined: the terminal view is drawn for people, json is for programs; choose one",
            CliRunner.Run("explain", "--view", "terminal", "--format", "json"));
    }

    [Fact]
    public void A_focus_from_the_input_file_is_named_as_the_file_field_not_as_a_flag()
    {
        File.WriteAllText(_dir.File("in.json"), """{"tokens": ["The", "cat"], "embeddings": [[1, 0], [0, 1]], "wq": [[1, 0], [0, 1]], "wk": [[1, 0], [0, 1]], "wv": [[1, 0], [0, 1]], "focus": "cat"}""");
        AssertOneLine(
            "heed: error: in.json's \"focus\": \"cat\" is not one of the tokens (A, B); --tokens replaced the file's tokens, so give --focus too",
            CliRunner.Run("explain", "--input", _dir.File("in.json"), "--tokens", "A,B"));
        AssertOneLine("heed: error: --focus \"dog\" is not one of the tokens (The, cat)", CliRunner.Run("explain", "--input", _dir.File("in.json"), "--focus", "dog"));
        var (code, output, error) = CliRunner.Run("explain", "--input", _dir.File("in.json"), "--tokens", "A,B", "--focus", "B");
        Assert.True(code == 0, error);
        Assert.Contains("Scores of \"B\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookup_names_seed_003_only_for_the_seed_vectors()
    {
        File.WriteAllText(_dir.File("v.txt"), "king 1 0\nqueen 1 1\nman 0 1\n");
        var (code, output, error) = CliRunner.Run("lookup", "--query", "king", "--keys", "queen,man", "--values", "1,3", "--vectors", _dir.File("v.txt"));
        Assert.True(code == 0, error);
        Assert.StartsWith("Soft key-value lookup of \"king\": attention = softmax(q . K^T) . v\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.StartsWith("Soft key-value lookup of \"fruit\" (seed 003): ", CliRunner.Run("lookup").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_that_is_not_a_model_says_what_a_model_folder_holds()
    {
        string folder = _dir.File("not-a-model");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        AssertOneLine(
            $"heed: error: model {folder}: a folder without model.safetensors; a model folder is a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt), and a llama2.c model is given as its .bin file",
            CliRunner.Run("generate", "--model", folder));
        AssertOneLine(
            $"heed: error: tokenizer {folder}: a folder without vocab.json and merges.txt; a tokenizer folder holds a GPT-2 vocab.json and merges.txt, and other tokenizers are given as their file (tok*.bin, .gguf)",
            CliRunner.Run("tokenize", "--tokenizer", folder, "hello"));
    }

    private string Weights(params double[] values)
    {
        string path = _dir.File($"w{Guid.NewGuid():N}.npy");
        Npy.Write(path, Tensor.FromDoubles(DType.Float32, [1, 2, 2, 2], values));
        return path;
    }

    [Theory]
    [InlineData(new[] { 1, 0, 0.5, 0.5, 1, 0, 2.0, -1 }, "weight 2 at [0, 1, 1, 0] is not a probability (outside [0, 1]); --allow-unnormalized takes such numbers")]
    [InlineData(new[] { 1, 0, 0.5, double.NaN, 1, 0, 0, 1 }, "weight NaN at [0, 0, 1, 1] is not a probability (outside [0, 1]); --allow-unnormalized takes such numbers")]
    [InlineData(new[] { 1, 0, 0.25, 0.5, 1, 0, 0, 1 }, "the row at [0, 0, 1, :] sums to 0.75, not 1 (within 0.001); --allow-unnormalized takes such rows")]
    public void Attention_weights_that_are_not_probabilities_are_refused_at_the_first_offending_position(double[] values, string problem)
    {
        string path = Weights(values);
        AssertOneLine($"heed: error: --attention-weights {Path.GetFileName(path)}: {problem}", CliRunner.Run("explain", "--attention-weights", path, "--tokens", "a,b"));
    }

    [Fact]
    public void Unnormalized_weights_are_drawn_when_asked_and_fully_masked_rows_of_zeros_are_taken()
    {
        var (code, output, error) = CliRunner.Run("explain", "--attention-weights", Weights(1, 0, 0.25, 0.5, 1, 0, 2, 3), "--tokens", "a,b", "--focus", "b", "--allow-unnormalized");
        Assert.True(code == 0, error);
        Assert.Contains("b & b  0.5000", output, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("explain", "--attention-weights", Weights(1, 0, 0, 0, 1, 0, 0.9995, 0.0001), "--tokens", "a,b");
        Assert.True(code == 0, error);
        AssertOneLine("heed: error: --allow-unnormalized applies to --attention-weights; computed weights are always probabilities", CliRunner.Run("explain", "--allow-unnormalized"));
    }

    [SharedFact("models/stories260K/tok512.bin")]
    public void Tokens_are_json_strings_without_the_newlines_around_bos()
    {
        string tok = TestPaths.Shared("models", "stories260K", "tok512.bin");
        var (code, output, error) = CliRunner.Run("tokenize", "--tokenizer", tok, "Hi");
        Assert.True(code == 0, error);
        Assert.Equal("1\t\"<s>\"\n320\t\" H\"\n417\t\"i\"\n", output.ReplaceLineEndings("\n"));
    }

    [SharedFact("models/stories260K/stories260K.bin")]
    public void Generate_counts_the_prompt_bos_and_new_tokens_apart_and_prints_speeds_with_decimals()
    {
        string model = TestPaths.Shared("models", "stories260K", "stories260K.bin");
        var (code, _, error) = CliRunner.Run("generate", "--model", model, "--temperature", "0", "--steps", "200");
        Assert.Equal(0, code);
        Assert.Matches(@"^heed: 0 prompt tokens \+ BOS, 200 new tokens; prefill [0-9]+\.[0-9]{2} ms, [0-9]+\.[0-9]+ tok/s; 199 decode steps in [0-9]+\.[0-9] ms \([0-9]+\.[0-9]+ tok/s\)\n$", error.ReplaceLineEndings("\n"));

        // "Once upon a time" is 4 tokens of tok512 after BOS; 10 positions leave 10 - 5 + 1 = 6 new tokens.
        (code, _, error) = CliRunner.Run("generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0", "--steps", "10");
        Assert.Equal(0, code);
        Assert.Matches(@"^heed: 4 prompt tokens \+ BOS, 6 new tokens; prefill [^;]+; 5 decode steps in ", error);
    }

    [Fact]
    public void Bench_shows_the_size_and_the_call_on_stderr()
    {
        var (code, output, error) = CliRunner.Run("bench", "attention", "--heads", "1", "--q-len", "8", "--head-size", "4", "--seconds", "0", "--min-iterations", "2", "--no-limits");
        Assert.True(code == 0, error);
        string[] lines = error.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal("heed: bench B=1 H=1/1 T=8 S=8 D=4: preparing inputs", lines[0]);
        Assert.Equal("heed: bench B=1 H=1/1 T=8 S=8 D=4: untimed call (allocations, warm-up)", lines[1]);
        Assert.StartsWith("heed: bench B=1 H=1/1 T=8 S=8 D=4: timed call 1 (at least 2, 0.0 of 0 s)", lines[2], StringComparison.Ordinal);
        Assert.Equal("heed: bench B=1 H=1/1 T=8 S=8 D=4: done, 2 timed calls", lines[^1]);
        Assert.Contains("2 iterations", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Service_install_and_uninstall_fail_when_systemctl_fails_with_its_message()
    {
        Assert.True(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "the fake systemctl is a shell script");
        string bin = _dir.File("bin");
        Directory.CreateDirectory(bin);
        string fake = Path.Combine(bin, "systemctl");
        File.WriteAllText(fake, "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = new Dictionary<string, string> { ["PATH"] = bin + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH") };
        string unit = _dir.File("heed.service");

        var (code, output, error) = CliRunner.Process(path, "service", "install", "--unit-file", unit);
        Assert.Equal(2, code);
        Assert.Equal($"wrote {unit}\n", output.ReplaceLineEndings("\n"));
        Assert.Equal("heed: error: systemctl --user daemon-reload failed (exit 1): Failed to connect to bus: No medium found\n", error.ReplaceLineEndings("\n"));

        (code, _, error) = CliRunner.Process(path, "service", "uninstall", "--unit-file", unit);
        Assert.Equal(2, code);
        Assert.Equal("heed: error: systemctl --user disable --now heed.service failed (exit 1): Failed to connect to bus: No medium found\n", error.ReplaceLineEndings("\n"));
        Assert.True(File.Exists(unit), "the unit is kept when systemctl could not disable it");

        (code, _, error) = CliRunner.Process(new Dictionary<string, string> { ["PATH"] = _dir.File("nothing-here") }, "service", "install", "--unit-file", unit);
        Assert.Equal(2, code);
        Assert.Equal("heed: error: systemctl --user daemon-reload: systemctl is not available here (the unit needs a systemd user session); --no-enable writes the unit alone\n", error.ReplaceLineEndings("\n"));
    }
}
