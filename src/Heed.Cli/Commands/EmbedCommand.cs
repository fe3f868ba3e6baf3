using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Heed.Models.Bert;

namespace Heed.Cli.Commands;

/// <summary><c>heed embed</c>: sentence embeddings (or last hidden states) of texts from a BERT-family encoder.</summary>
internal static class EmbedCommand
{
    // Texts at or above this count show a progress line on stderr.
    private const int ProgressFrom = 64;

    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "An encoder: a Hugging Face folder (config.json, model.safetensors, vocab.txt) or an ONNX export (model.onnx + vocab.txt)", Required = true };
        var pooling = new Option<string?>("--pooling") { Description = "mean, cls, or none for each text's last hidden state (default: the model's sentence-transformers config, else mean)" };
        pooling.AcceptOnlyFromAmong("mean", "cls", "none");
        var noNormalize = new Option<bool>("--no-normalize") { Description = "Do not scale pooled vectors to length 1" };
        var format = new Option<string>("--format") { Description = "json, or npy (float32 [N, C]; with --pooling none, [T, C] of one text)", DefaultValueFactory = _ => "json" };
        format.AcceptOnlyFromAmong("json", "npy");
        var output = new Option<string?>("--out") { Description = "Write to this file instead of stdout (needed for npy)" };
        var input = new Option<string?>("--input") { Description = "Read texts from this file, one per line (blank lines skipped); - for stdin" };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per forward pass; texts of similar length go together", DefaultValueFactory = _ => 32 };
        batchSize.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError($"--batch-size {r.GetValueOrDefault<int>()}: expected at least 1");
        });
        Option<int?> threads = CommonOptions.Threads("Threads for the matrix products and attention");
        var reference = new Option<bool>("--reference") { Description = "Run attention through Heed's float64 reference" };
        var texts = new Argument<string[]>("text") { Description = "Texts to embed (or --input FILE, or lines on stdin)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("embed", "Embed texts with a BERT-family encoder (sentence-transformers models such as all-MiniLM-L6-v2): JSON with the tokens and one vector per text.")
        {
            model, pooling, noNormalize, format, output, input, batchSize, threads, reference, texts,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            string? outPath = parse.GetValue(output);
            bool npy = parse.GetValue(format) == "npy";
            EmbeddingPooling? pool = parse.GetValue(pooling) switch
            {
                "mean" => EmbeddingPooling.Mean,
                "cls" => EmbeddingPooling.Cls,
                "none" => EmbeddingPooling.None,
                _ => null,
            };
            if (npy && outPath is null) throw new HeedException("--format npy writes binary: give --out FILE");
            OutputFiles.CheckFolders([("--out", outPath)]);
            string[] all = Texts(parse.GetValue(texts) ?? [], parse.GetValue(input));
            if (npy && pool == EmbeddingPooling.None && all.Length != 1)
            {
                throw new HeedException($"--format npy with --pooling none writes one text's [T, C]; got {all.Length} texts (use JSON for several)");
            }

            SentenceEncoder encoder = SentenceEncoder.Load(parse.GetValue(model)!);
            TextWriter error = parse.InvocationConfiguration.Error;
            using var progress = new ProgressLine(error);
            var options = new EmbeddingOptions
            {
                Pooling = pool,
                Normalize = parse.GetValue(noNormalize) ? false : null,
                BatchSize = parse.GetValue(batchSize),
                Threads = parse.GetValue(threads) ?? Environment.ProcessorCount,
                UseReference = parse.GetValue(reference),
                Progress = all.Length >= ProgressFrom ? new SyncProgress(done => progress.Show($"embed: {done}/{all.Length} texts", force: done == all.Length)) : null,
            };
            EmbeddingResult result = encoder.Embed(all, options);
            progress.Finish();

            if (npy)
            {
                int c = result.Dimensions;
                float[] data = result.Embeddings is { } e ? [.. e.SelectMany(v => v)] : [.. result.HiddenStates![0].SelectMany(v => v)];
                OutputFiles.WriteAll([("--out", outPath!, new Tensor<float>([data.Length / c, c], data))]);
                return 0;
            }

            string json = JsonSerializer.Serialize(result, Json);
            if (outPath is null)
            {
                parse.InvocationConfiguration.Output.WriteLine(json);
            }
            else
            {
                File.WriteAllText(outPath, json + "\n");
            }

            return 0;
        }));
        return command;
    }

    private static string[] Texts(string[] arguments, string? input)
    {
        if (arguments.Length > 0 && input is not null) throw new HeedException("give texts as arguments or with --input, not both");
        if (arguments.Length > 0) return arguments;
        if (input is null or "-")
        {
            if (input is null && !Console.IsInputRedirected) throw new HeedException("no text: give TEXT..., --input FILE, or pipe texts on stdin");
            return Lines(Console.In, "stdin");
        }

        if (!File.Exists(input)) throw new HeedException($"--input {input}: no such file");
        using var file = new StreamReader(input);
        return Lines(file, input);
    }

    private static string[] Lines(TextReader reader, string source)
    {
        var lines = new List<string>();
        while (reader.ReadLine() is string line)
        {
            if (!string.IsNullOrWhiteSpace(line)) lines.Add(line);
        }

        return lines.Count > 0 ? [.. lines] : throw new HeedException($"no text in {source}");
    }

    // Progress<T> posts to the thread pool; the batches report from the calling thread, so report there, in order.
    private sealed class SyncProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
