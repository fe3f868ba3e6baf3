using System.CommandLine;
using System.Globalization;
using System.Text;
using Heed.Models;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;

namespace Heed.Cli.Commands;

/// <summary>
/// <c>heed generate</c>: text from a model, streamed to stdout exactly as llama2.c's run.c prints it (the prompt,
/// then the continuation, then a newline); the speed goes to stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A llama2.c checkpoint (.bin), a GGUF file of the llama architecture (F32, F16, BF16, Q8_0, Q4_K, Q6_K tensors; its tokenizer comes with it), or a Hugging Face GPT-2 folder (config.json + model.safetensors)", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tok*.bin, a GPT-2 folder or vocab.json, or a .gguf vocabulary (default: the one beside the model)" };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue (default: empty)", DefaultValueFactory = _ => "" };
        var steps = new Option<int>("--steps") { Description = "Positions to run, prompt included (as run.c); capped at the model's context", DefaultValueFactory = _ => 256 };
        var temperature = new Option<double>("--temperature") { Description = "0 = greedy; higher = more random", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Sample only among the K most probable tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling: the smallest set of tokens with probability mass above P (0 or 1 = off)", DefaultValueFactory = _ => 0.9 };
        var seed = new Option<string?>("--seed") { Description = "Seed of the sampler (> 0; default: from the clock, printed on stderr)" };
        var threads = CommonOptions.Threads("Threads for the matrix products");
        var reference = new Option<bool>("--reference") { Description = "Run attention on the float64 reference implementation" };
        var command = new Command("generate", "Generate text with a model, streamed to stdout as llama2.c's run.c prints it.")
        {
            model, tokenizer, prompt, steps, temperature, topK, topP, seed, threads, reference,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter error = parse.InvocationConfiguration.Error;
            int stepCount = parse.GetValue(steps);
            if (stepCount <= 0)
            {
                throw new HeedException($"--steps {stepCount}: expected > 0 (positions to run, prompt included)");
            }

            int threadCount = parse.GetValue(threads) ?? Environment.ProcessorCount;

            ulong? seedValue = null;
            if (parse.GetValue(seed) is string seedText)
            {
                if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsed) || parsed == 0)
                {
                    throw new HeedException($"--seed {seedText}: expected an integer in 1..{ulong.MaxValue} (xorshift never leaves the state 0)");
                }

                seedValue = parsed;
            }

            var sampling = new SamplingOptions
            {
                Temperature = (float)parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = (float)parse.GetValue(topP),
                Seed = seedValue ?? ((ulong)DateTime.UtcNow.Ticks | 1),
            };
            sampling.Validate();

            string modelPath = parse.GetValue(model)!;
            ICausalLanguageModel loaded = ModelFiles.LoadModel(modelPath);
            ITokenizer tok = ModelFiles.LoadTokenizer(parse.GetValue(tokenizer) ?? ModelFiles.FindTokenizer(modelPath));
            TextWriter output = parse.InvocationConfiguration.Output;
            Decoder utf8 = new UTF8Encoding(false).GetDecoder();
            var chars = new char[64];
            void Print(byte[] piece)
            {
                if (!TextGenerator.IsPrintable(piece)) return;
                if (chars.Length < piece.Length + 4) chars = new char[piece.Length + 4];
                int n = utf8.GetChars(piece, 0, piece.Length, chars, 0, flush: false);
                output.Write(chars, 0, n);
                output.Flush();
            }

            GenerationResult result = TextGenerator.Generate(
                loaded,
                tok,
                parse.GetValue(prompt)!,
                new GenerationOptions { Steps = stepCount, Sampling = sampling, Threads = threadCount, UseReferenceAttention = parse.GetValue(reference) },
                Print);
            int tail = utf8.GetChars([], 0, 0, chars, 0, flush: true);
            output.Write(chars, 0, tail);
            output.WriteLine();
            output.Flush();

            error.WriteLine(Summary(result, tok, sampling));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The line on stderr after the text: the prompt's tokens (BOS counted apart, since the user did not type it), the new
    /// tokens, and the speeds. The first new token comes from the prefill pass over the prompt, each later one from a decode step.
    /// </summary>
    internal static string Summary(GenerationResult result, ITokenizer tokenizer, SamplingOptions sampling)
    {
        int bos = tokenizer.BosId is int b && result.PromptTokens > 0 && result.Tokens[0] == b ? 1 : 0;
        int typed = result.PromptTokens - bos, generated = result.Tokens.Length - result.PromptTokens;
        var culture = CultureInfo.InvariantCulture;
        string prompt = bos == 1 ? string.Create(culture, $"{Plural(typed, "prompt token")} + BOS") : Plural(typed, "prompt token");
        string decode = result.DecodeSteps == 0 ? "no decode steps"
            : string.Create(culture, $"{Plural(result.DecodeSteps, "decode step")} in {result.Decode.TotalMilliseconds:F1} ms ({Speed(result.DecodeTokensPerSecond)} tok/s)");
        string prefillSpeed = result.Prefill > TimeSpan.Zero ? $", {Speed(result.PromptTokens / result.Prefill.TotalSeconds)} tok/s" : "";
        return string.Create(
            culture,
            $"heed: {prompt}, {Plural(generated, "new token")}{(result.StoppedAtBos ? " (stopped at BOS)" : result.StopToken is int end ? $" (stopped at {tokenizer.PieceText(end)})" : "")}; prefill {result.Prefill.TotalMilliseconds:F2} ms{prefillSpeed}; {decode}{(sampling.Temperature > 0 ? $"; seed {sampling.Seed}" : "")}");
    }

    private static string Plural(int n, string noun) => n.ToString(CultureInfo.InvariantCulture) + " " + noun + (n == 1 ? "" : "s");

    // Three significant figures at least, never a bare whole number: 1234.5, 436.2, 64.13, 7.512.
    private static string Speed(double perSecond) => perSecond.ToString(perSecond >= 100 ? "F1" : perSecond >= 10 ? "F2" : "F3", CultureInfo.InvariantCulture);
}
