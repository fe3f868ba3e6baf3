using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Heed.Explain;
using Heed.Explain.Pictures;
using Heed.Explain.Seeds;
using Heed.Explain.Terminal;
using Heed.IO;
using Heed.Models;
using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;
using Spectre.Console;

namespace Heed.Cli.Commands;

/// <summary><c>heed explain</c>: every step of attention, as the seeds walk through it, on the seed example or the user's own input.</summary>
internal static class ExplainCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // masked scores are -Infinity
    };

    public static Command Create()
    {
        var format = new Option<string>("--format") { Description = "text (for people) or json (the whole trace, for programs and agents)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var view = new Option<string>("--view") { Description = "text (the walk-through) or terminal (coloured heatmap and tables, like 'heed show')", DefaultValueFactory = _ => "text" };
        view.AcceptOnlyFromAmong("text", "terminal");
        var scaled = new Option<bool>("--scaled") { Description = "Seed example: divide the scores by sqrt(d) as real transformers do (the seed leaves it out)" };
        var reference = new Option<bool>("--reference") { Description = "Replay the run through the float64 reference and print the largest difference between the two traces" };
        var sources = new SourceOptions();
        var timings = new Option<bool>("--timings") { Description = "Print on stderr how long the run (load, forward pass with capture, trace) and the pictures took, in process" };
        var repeat = new Option<int>("--repeat") { Description = "With --timings: do everything N times in this process and print each time (the first includes the JIT warm-up)", DefaultValueFactory = _ => 1 };
        var command = new Command("explain", "Walk through attention step by step: Q, K, V, one token's scores, softmax, weighted sum, output. With no input, the seed example \"The cat sat on the mat\"; --model and --prompt run a real model; --out DIR also writes pictures and an HTML report.")
        {
            format, view, scaled, reference, timings, repeat,
        };
        sources.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(view) == "terminal" && parse.GetValue(format) == "json")
            {
                throw new HeedException("--view terminal and --format json cannot be combined: the terminal view is drawn for people, json is for programs; choose one");
            }

            int times = parse.GetValue(repeat);
            if (times is < 1 or > 1000) throw new HeedException($"--repeat {times}: expected 1..1000");
            Explained run = null!;
            IReadOnlyList<string> written = [];
            for (int n = 0; n < times; n++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                run = sources.Resolve(parse, parse.GetValue(scaled), parse.GetValue(reference));
                TimeSpan resolved = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                written = run.WritePictures(parse.GetValue(sources.Out));
                if (parse.GetValue(timings))
                {
                    TimeSpan total = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                    string what = run.Model is { } m ? $"load, forward pass with capture ({m.Forward.TotalMilliseconds:F1} ms) and trace" : "trace";
                    parse.InvocationConfiguration.Error.WriteLine(string.Create(
                        CultureInfo.InvariantCulture,
                        $"heed: {what} {resolved.TotalMilliseconds:F1} ms, {written.Count} picture files {(total - resolved).TotalMilliseconds:F1} ms, total {total.TotalMilliseconds:F1} ms"));
                }
            }

            var stdout = new StringBuilder();
            bool json = parse.GetValue(format) == "json";
            if (json)
            {
                Dictionary<string, object?> doc = run.ToJson();
                if (written.Count > 0) doc["files"] = written;
                stdout.Append(JsonSerializer.Serialize(doc, Json)).Append('\n');
                output.Write(stdout.ToString());
            }
            else if (parse.GetValue(view) == "terminal")
            {
                run.ShowInTerminal(output, parse.GetValue(sources.Width));
                WrittenLine(output, written);
            }
            else
            {
                output.Write(run.Text());
                WrittenLine(output, written);
            }

            return 0;
        }));
        return command;
    }

    private static void WrittenLine(TextWriter output, IReadOnlyList<string> written)
    {
        if (written.Count == 0) return;
        output.WriteLine($"Wrote {written.Count} files to {Path.GetDirectoryName(written[0])}: {string.Join(", ", written.Select(Path.GetFileName))}");
    }

    internal static string Number(double x) => TraceText.Number(x);

    internal static IAnsiConsole Console(TextWriter output, int? width)
    {
        bool isConsole = ReferenceEquals(output, System.Console.Out);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = isConsole ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = isConsole ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (width is int w) console.Profile.Width = w;
        return console;
    }

    /// <summary>The input flags shared by <c>explain</c> and <c>show</c>, and how they resolve to something to explain.</summary>
    internal sealed class SourceOptions
    {
        public Option<string?> Input { get; } = new("--input") { Description = "A JSON file with tokens, embeddings, wq, wk, wv (inline arrays or .npy/.json paths), and optional scale, causal, focus" };

        public Option<string?> Tokens { get; } = new("--tokens") { Description = "Comma-separated tokens (with --embeddings/--wq/--wk/--wv, or with --attention-weights)" };

        public Option<string?> Embeddings { get; } = new("--embeddings") { Description = "E [T, C] as .npy or .json" };

        public Option<string?> WQ { get; } = new("--wq") { Description = "W_Q [C, D] as .npy or .json" };

        public Option<string?> WK { get; } = new("--wk") { Description = "W_K [C, D] as .npy or .json" };

        public Option<string?> WV { get; } = new("--wv") { Description = "W_V [C, Dv] as .npy or .json" };

        public Option<string?> Weights { get; } = new("--attention-weights") { Description = "Probabilities [L, H, T, S], [H, T, S] or [T, S] as .npy (for example saved from PyTorch), drawn with --tokens" };

        public Option<double?> Scale { get; } = new("--scale") { Description = "The factor on Q.K^T (default 1/sqrt(D); the seed example uses 1)" };

        public Option<bool> Causal { get; } = new("--causal") { Description = "Mask future tokens (token i attends to 0..i)" };

        public Option<string?> Focus { get; } = new("--focus") { Description = "The token to follow step by step (default: the seed's \"cat\", the input's focus, or the first token)" };

        public Option<int?> Layer { get; } = new("--layer") { Description = "The layer to draw (default 0)" };

        public Option<string?> Head { get; } = new("--head") { Description = "The head to draw: a number (default 0; the head view shows all heads unless one is given), or 'all' for a heatmap and network of every head" };

        public Option<double?> PngScale { get; } = new("--png-scale") { Description = "With --out: PNG pixels per picture pixel (default 2, at most 8; the SVGs are unchanged)" };

        public Option<string?> Out { get; } = new("--out") { Description = "A folder for the pictures: heatmap, model-view, head-view, network, rollout (.svg and .png) and report.html" };

        public Option<int?> Width { get; } = new("--width") { Description = "Terminal width in columns for the terminal view (default: the window's)" };

        public Option<string?> Model { get; } = new("--model") { Description = "A llama2.c checkpoint (.bin), a GGUF llama file, a Hugging Face GPT-2 folder, or a BERT-family encoder (Hugging Face folder or ONNX export with vocab.txt): run --prompt through it with attention capture and explain its heads" };

        public Option<string?> Prompt { get; } = new("--prompt") { Description = "With --model: the text to run (Llama models get BOS first)" };

        public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "With --model: tok*.bin, a GPT-2 folder or vocab.json, or a .gguf vocabulary (default: the one beside the model)" };

        public Option<bool> AllowUnnormalized { get; } = new("--allow-unnormalized") { Description = "With --attention-weights: draw numbers that are not probabilities (outside [0, 1], or rows that do not sum to 1)" };

        public Option<bool> AllLayers { get; } = new("--all-layers") { Description = "With --out: the heatmap, head view and network of every layer, not only --layer" };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Input, Tokens, Embeddings, WQ, WK, WV, Weights, AllowUnnormalized, Scale, Causal, Focus, Layer, Head, Out, PngScale, Width, Model, Prompt, Tokenizer, AllLayers })
            {
                command.Options.Add(option);
            }
        }

        public Explained Resolve(ParseResult parse, bool seedScaled, bool reference)
        {
            string? outDir = parse.GetValue(Out);
            if (outDir is not null) PictureFiles.CheckFolder(outDir);
            if (parse.GetValue(Width) is int w && w < 20) throw new HeedException($"--width {w} is too narrow; expected at least 20 columns");
            int? layer = parse.GetValue(Layer), head = ParseHead(parse.GetValue(Head), out bool everyHead);
            string? focus = parse.GetValue(Focus);
            bool allLayers = parse.GetValue(AllLayers);
            double pngScale = parse.GetValue(PngScale) ?? PngRenderer.DefaultScale;
            if (!(pngScale > 0 && pngScale <= PngRenderer.MaxScale))
            {
                throw new HeedException($"--png-scale {pngScale.ToString(CultureInfo.InvariantCulture)}: expected a number in (0, {PngRenderer.MaxScale.ToString(CultureInfo.InvariantCulture)}]");
            }

            if (Given(parse, PngScale) && outDir is null) throw new HeedException("--png-scale applies to the pictures --out DIR writes");
            if (parse.GetValue(Model) is string modelPath)
            {
                return ResolveModel(parse, modelPath, layer, head, focus, seedScaled, reference) with { AllLayers = allLayers, EveryHead = everyHead, PngScale = pngScale };
            }

            foreach (Option o in new Option[] { Prompt, Tokenizer })
            {
                if (Given(parse, o)) throw new HeedException($"{o.Name} needs --model PATH (a llama2.c checkpoint, a GPT-2 folder or a BERT-family encoder)");
            }

            return ResolveInput(parse, layer, head, focus, seedScaled, reference) with { AllLayers = allLayers, EveryHead = everyHead, PngScale = pngScale };
        }

        // "--head N" or "--head all".
        private static int? ParseHead(string? value, out bool everyHead)
        {
            everyHead = string.Equals(value, "all", StringComparison.OrdinalIgnoreCase);
            if (value is null || everyHead) return null;
            if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int head)) return head;
            throw new HeedException($"--head {value}: expected a head number (0, 1, ...) or 'all'");
        }

        private Explained ResolveModel(ParseResult parse, string modelPath, int? layer, int? head, string? focus, bool seedScaled, bool reference)
        {
            foreach (Option o in new Option[] { Input, Tokens, Embeddings, WQ, WK, WV, Weights, AllowUnnormalized, Scale, Causal })
            {
                if (Given(parse, o)) throw new HeedException($"{o.Name} cannot be combined with --model: the model makes its own Q, K and V, scales by 1/sqrt(D) and masks as it was trained");
            }

            if (seedScaled) throw new HeedException("--scaled applies to the seed example; a model scales its scores by 1/sqrt(D) itself");
            string prompt = parse.GetValue(Prompt) ?? throw new HeedException("--model needs --prompt TEXT: the text to run through the model");
            string source = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath));
            ModelAttentionRun run;
            string tokenizerPath;
            Func<ModelAttentionRun> replayRun;
            long start;
            if (SentenceEncoder.IsEncoder(modelPath))
            {
                // An encoder reads its own vocab.txt: [CLS] … [SEP], attention in both directions.
                if (Given(parse, Tokenizer)) throw new HeedException("--tokenizer does not apply to an encoder: it reads the vocab.txt beside its weights");
                SentenceEncoder encoder = SentenceEncoder.Load(modelPath);
                tokenizerPath = Path.Combine(Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!, "vocab.txt");
                AttentionSet.CheckIndex(encoder.Model.Config.NumLayers, encoder.Model.Config.NumHeads, layer, head);
                int[] encoded = encoder.Tokenizer.EncodeForModel(prompt, encoder.MaxLength);
                string[] pieces = [.. encoded.Select(encoder.Tokenizer.PieceText)];
                start = System.Diagnostics.Stopwatch.GetTimestamp();
                run = ModelAttentionRun.Run(encoder.Model, encoded, pieces, useReference: false, source, Environment.ProcessorCount);
                replayRun = () => ModelAttentionRun.Run(encoder.Model, encoded, pieces, useReference: true, source, Environment.ProcessorCount);
            }
            else
            {
                ICausalLanguageModel model = ModelFiles.LoadModel(modelPath);
                tokenizerPath = parse.GetValue(Tokenizer) ?? ModelFiles.FindTokenizer(modelPath);
                ITokenizer tokenizer = ModelFiles.LoadTokenizer(tokenizerPath);

                // Everything a user can get wrong is checked before the forward pass.
                AttentionSet.CheckIndex(model.NumLayers, model.NumHeads, layer, head);
                int[] ids = ModelAttentionRun.Encode(model, tokenizer, prompt);
                string[] labels = [.. ids.Select(id => ModelAttentionRun.Label(tokenizer, id))];
                start = System.Diagnostics.Stopwatch.GetTimestamp();
                run = ModelAttentionRun.Run(model, ids, labels, useReference: false, source, Environment.ProcessorCount);
                replayRun = () => ModelAttentionRun.Run(model, ids, labels, useReference: true, source, Environment.ProcessorCount);
            }

            TimeSpan forward = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            HeadTrace trace = run.Trace(layer ?? 0, head ?? 0);
            int row = focus is null ? trace.QueryLength - 1 : trace.IndexOf(focus);
            if (row < 0)
            {
                string list = string.Join(", ", trace.Tokens.Take(20)) + (trace.Tokens.Count > 20 ? ", …" : "");
                throw new HeedException($"--focus \"{focus}\" is not one of the tokens ({list}); a position works too, as #N");
            }

            ModelRunComparison? check = null;
            if (reference)
            {
                check = run.Compare(replayRun(), layer ?? 0, head ?? 0);
            }

            var explanation = new ModelExplanation(run, trace, check, modelPath, tokenizerPath, forward);
            return new Explained(run.ToSet(), null, null, row, layer ?? 0, head, null, source) { Model = explanation };
        }

        private Explained ResolveInput(ParseResult parse, int? layer, int? head, string? focus, bool seedScaled, bool reference)
        {
            if (parse.GetValue(Weights) is string weightsPath)
            {
                foreach (Option o in new Option[] { Input, Embeddings, WQ, WK, WV })
                {
                    if (Given(parse, o)) throw new HeedException($"{o.Name} cannot be combined with --attention-weights: the weights are given, not computed");
                }

                string tokenText = parse.GetValue(Tokens) ?? throw new HeedException("--attention-weights needs --tokens (comma-separated, one per row)");
                if (!File.Exists(weightsPath)) throw new HeedException($"--attention-weights: {weightsPath} does not exist");
                Tensor probabilities;
                try
                {
                    probabilities = Npy.Read(weightsPath);
                }
                catch (HeedException ex)
                {
                    throw new HeedException($"--attention-weights: {ex.Message}", ex);
                }

                AttentionSet set;
                try
                {
                    set = AttentionSet.FromArray(probabilities, TraceInput.SplitTokens(tokenText), name: Path.GetFileName(weightsPath), allowUnnormalized: parse.GetValue(AllowUnnormalized));
                }
                catch (HeedException ex)
                {
                    throw new HeedException($"--attention-weights {ex.Message}", ex);
                }

                set.CheckIndex(layer, head);
                int row = FocusRow(set.QueryTokens, focus ?? set.QueryTokens[0]);
                return new Explained(set, null, null, row, layer ?? 0, head, null, Path.GetFileName(weightsPath));
            }

            if (Given(parse, AllowUnnormalized)) throw new HeedException("--allow-unnormalized applies to --attention-weights; computed weights are always probabilities");
            bool custom = new Option[] { Input, Tokens, Embeddings, WQ, WK, WV }.Any(o => Given(parse, o));
            if (!custom)
            {
                if (Given(parse, Causal) || Given(parse, Scale))
                {
                    throw new HeedException("--causal and --scale apply to your own input (--input or --embeddings/--wq/--wk/--wv); the seed example uses --scaled");
                }

                AttentionTrace seed = CatSatOnTheMat.Trace(seedScaled);
                AttentionSet seedSet = AttentionSet.FromTrace(seed, "seed 000");
                seedSet.CheckIndex(layer, head);
                int seedFocus = FocusRow(seed.Tokens, focus ?? CatSatOnTheMat.Focus);
                TraceComparison? check = reference ? TraceComparison.Compare(seed, CatSatOnTheMat.Trace(seedScaled, useReference: true)) : null;
                return new Explained(seedSet, seed, check, seedFocus, layer ?? 0, head, seedScaled, "seed 000");
            }

            if (seedScaled) throw new HeedException("--scaled applies to the seed example; for your own input use --scale F (the default is already 1/sqrt(D))");
            TraceInput? file = parse.GetValue(Input) is string inputPath ? TraceInput.Load(inputPath) : null;
            double[][] Matrix(Option<string?> option, double[][]? fromFile)
            {
                if (parse.GetValue(option) is string path) return TraceInput.LoadMatrix(path, option.Name);
                return fromFile ?? throw new HeedException($"{option.Name} is missing: give --input FILE, or all of --tokens, --embeddings, --wq, --wk and --wv");
            }

            IReadOnlyList<string> tokens = parse.GetValue(Tokens) is string t ? TraceInput.SplitTokens(t)
                : file?.Tokens ?? throw new HeedException("--tokens is missing: give --input FILE, or all of --tokens, --embeddings, --wq, --wk and --wv");
            var input = new TraceInput
            {
                Tokens = tokens,
                Embeddings = Matrix(Embeddings, file?.Embeddings),
                WQ = Matrix(WQ, file?.WQ),
                WK = Matrix(WK, file?.WK),
                WV = Matrix(WV, file?.WV),
                Scale = parse.GetValue(Scale) ?? file?.Scale,
                Causal = parse.GetValue(Causal) || (file?.Causal ?? false),
                Focus = focus ?? file?.Focus,
                Source = file?.Source ?? "your input",
            };

            // Name the focus as the user gave it: the flag, or the input file's field (which --tokens may have replaced).
            string focusOrigin = focus is not null ? "--focus" : $"{Path.GetFileName(parse.GetValue(Input))}'s \"focus\":";
            if (parse.GetValue(Scale) is double s && !double.IsFinite(s)) throw new HeedException($"--scale {s.ToString(CultureInfo.InvariantCulture)} must be a finite number");
            AttentionTrace trace = input.Trace();
            AttentionSet traceSet = AttentionSet.FromTrace(trace, input.Source);
            traceSet.CheckIndex(layer, head);
            int focusRow = FocusRow(trace.Tokens, input.Focus ?? trace.Tokens[0], focusOrigin, tokensFromFlag: Given(parse, Tokens) && file?.Tokens is not null);
            TraceComparison? comparison = reference ? TraceComparison.Compare(trace, input.Trace(useReference: true)) : null;
            return new Explained(traceSet, trace, comparison, focusRow, layer ?? 0, head, null, input.Source);
        }

        private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

        private static int FocusRow(IReadOnlyList<string> tokens, string focus, string origin = "--focus", bool tokensFromFlag = false)
        {
            int row = AttentionTrace.IndexOf(tokens, focus);
            if (row < 0)
            {
                string list = string.Join(", ", tokens.Take(20)) + (tokens.Count > 20 ? ", …" : "");
                string hint = origin == "--focus" ? "" : tokensFromFlag ? "; --tokens replaced the file's tokens, so give --focus too" : "; give --focus";
                throw new HeedException($"{origin} \"{focus}\" is not one of the tokens ({list}){hint}");
            }

            return row;
        }
    }

    /// <summary>A model run resolved for explaining: the run, the chosen head's trace, the reference check and where the files were.</summary>
    internal sealed record ModelExplanation(ModelAttentionRun Run, HeadTrace Trace, ModelRunComparison? Check, string ModelPath, string TokenizerPath, TimeSpan Forward)
    {
        public Dictionary<string, object?> ToJson(string source, int focus)
        {
            ModelShape m = Run.Shape;
            HeadTrace t = Trace;
            var doc = new Dictionary<string, object?>
            {
                ["source"] = source,
                ["model"] = ModelPath,
                ["tokenizer"] = TokenizerPath,
                ["architecture"] = m.Architecture,
                ["layers"] = m.NumLayers,
                ["heads"] = m.NumHeads,
                ["kvHeads"] = m.KvNumHeads,
                ["headSize"] = m.HeadSize,
                ["tokens"] = t.Tokens,
                ["ids"] = t.Ids,
                ["layer"] = t.Layer,
                ["head"] = t.Head,
                ["kvHead"] = t.KvHead,
                ["focus"] = t.QueryToken(focus),
                ["focusPosition"] = t.QueryOffset + focus,
                ["scale"] = t.Scale,
                ["howQkvAreMade"] = ModelAttentionRun.HowQkvAreMade(m.Architecture),
                ["q"] = t.Q,
                ["k"] = t.K,
                ["v"] = t.V,
                ["scores"] = t.Scores,
                ["weights"] = t.Weights,
                ["outputs"] = t.Outputs,
                ["focusQ"] = t.Q[focus],
                ["focusScores"] = t.Scores[focus],
                ["focusWeights"] = t.Weights[focus],
                ["focusOutput"] = t.Outputs[focus],
                ["reference"] = t.Reference,
            };
            if (Check is not null)
            {
                TraceComparison c = Check.Head;
                doc["referenceCheck"] = new { c.Q, c.K, c.V, c.Scores, c.Weights, c.Outputs, c.Max, AllWeights = Check.Weights, Check.Logits };
            }

            return doc;
        }
    }

    /// <summary>Something resolved for explaining: a trace (seed or user input) or given weights, and what to show.</summary>
    internal sealed record Explained(AttentionSet Set, AttentionTrace? Trace, TraceComparison? Check, int Focus, int Layer, int? Head, bool? SeedScaled, string Source)
    {
        /// <summary>The model run, when the input was --model and --prompt.</summary>
        public ModelExplanation? Model { get; init; }

        /// <summary>Whether the pictures cover every layer.</summary>
        public bool AllLayers { get; init; }

        /// <summary>Whether the heatmap and network are drawn for every head (--head all).</summary>
        public bool EveryHead { get; init; }

        /// <summary>PNG pixels per picture pixel.</summary>
        public double PngScale { get; init; } = PngRenderer.DefaultScale;

        private bool IsSeed => SeedScaled is not null;

        public string Text()
        {
            var text = new StringBuilder();
            if (Model is not null)
            {
                text.Append(HeadTraceText.Render(Model.Trace, Focus, $"Attention in {Source}, step by step, on the prompt's {Model.Trace.Tokens.Count} tokens"));
                if (Model.Check is not null) text.Append('\n').Append(HeadTraceText.Comparison(Model.Check)).Append('\n');
                return text.ToString();
            }

            if (Trace is null)
            {
                text.Append(CultureInfo.InvariantCulture, $"Attention weights from {Source}: {Set.Layers} layer(s) x {Set.Heads} head(s) over {Set.QueryLength} query and {Set.KeyLength} key tokens\n\n");
                int head = Head ?? 0;
                text.Append(CultureInfo.InvariantCulture, $"Weights of \"{Set.QueryTokens[Focus]}\" in layer {Layer}, head {head}:\n");
                int width = Set.KeyTokens.Max(k => k.Length) + 2;
                for (int j = 0; j < Set.KeyLength; j++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"  {Set.QueryTokens[Focus]} & {Set.KeyTokens[j].PadRight(width)}{Number(Set.Weight(Layer, head, Focus, j))}\n");
                }
            }
            else if (IsSeed)
            {
                text.Append(RenderSeedText(Trace, SeedScaled!.Value, Focus));
            }
            else
            {
                text.Append(TraceText.Render(Trace, Focus, $"Self-attention, step by step, on {Source}"));
            }

            if (Check is not null) text.Append('\n').Append(TraceText.Comparison(Check)).Append('\n');
            return text.ToString();
        }

        public Dictionary<string, object?> ToJson()
        {
            var doc = new Dictionary<string, object?>();
            if (Model is not null) return Model.ToJson(Source, Focus);
            if (Trace is null)
            {
                doc["source"] = Source;
                doc["layers"] = Set.Layers;
                doc["heads"] = Set.Heads;
                doc["queryTokens"] = Set.QueryTokens;
                doc["keyTokens"] = Set.KeyTokens;
                doc["focus"] = Set.QueryTokens[Focus];
                doc["layer"] = Layer;
                doc["head"] = Head ?? 0;
                doc["focusWeights"] = Enumerable.Range(0, Set.KeyLength).Select(j => Set.Weight(Layer, Head ?? 0, Focus, j)).ToArray();
                return doc;
            }

            if (IsSeed)
            {
                doc["example"] = "The cat sat on the mat";
                doc["source"] = "seed 000: Transformer Attention: A Guide to the Q, K, and V Matrices";
                doc["scaled"] = SeedScaled;
            }
            else
            {
                doc["source"] = Source;
                doc["causal"] = Trace.Causal;
            }

            doc["focus"] = Trace.Tokens[Focus];
            doc["scale"] = Trace.Scale;
            doc["tokens"] = Trace.Tokens;
            doc["embeddings"] = Trace.Embeddings;
            doc["wQ"] = Trace.WQ;
            doc["wK"] = Trace.WK;
            doc["wV"] = Trace.WV;
            doc["q"] = Trace.Q;
            doc["k"] = Trace.K;
            doc["v"] = Trace.V;
            doc["scores"] = Trace.Scores;
            doc["weights"] = Trace.Weights;
            doc["outputs"] = Trace.Outputs;
            doc["focusOutput"] = Trace.Outputs[Focus];
            doc["reference"] = Trace.Reference;
            if (Check is not null)
            {
                doc["referenceCheck"] = new { Check.Q, Check.K, Check.V, Check.Scores, Check.Weights, Check.Outputs, Check.Max };
            }

            if (IsSeed) doc["seedSlips"] = CatSatOnTheMat.Slips;
            return doc;
        }

        public void ShowInTerminal(TextWriter output, int? width)
        {
            IAnsiConsole console = Console(output, width);
            TerminalView.Heatmap(console, Set, Layer, Head ?? 0);
            console.WriteLine();
            if (Trace is not null) TerminalView.Trace(console, Trace, Focus);
            if (Model is not null) TerminalView.ModelHead(console, Model.Trace, Focus);
            if (Check is not null) console.WriteLine(TraceText.Comparison(Check));
            if (Model?.Check is not null) console.WriteLine(HeadTraceText.Comparison(Model.Check));
        }

        public IReadOnlyList<string> WritePictures(string? folder)
        {
            if (folder is null) return [];
            IReadOnlyList<(string Name, Scene Scene, string Description)> pictures = AttentionPictures.All(Set, Layer, Head, AllLayers, EveryHead);
            var intro = new List<string>
            {
                $"Source: {Source}. {Set.Layers} layer(s) x {Set.Heads} head(s); {Set.QueryLength} query tokens, {Set.KeyLength} key tokens.",
                "Hover over a cell, line or node to read its value. This page needs no network connection.",
            };
            if (Model is not null) intro.Insert(1, $"Prompt tokens: {string.Join(" ", Model.Trace.Tokens)}. {ModelAttentionRun.HowQkvAreMade(Model.Trace.Architecture)}");
            string title = IsSeed ? "Attention in \"The cat sat on the mat\" (seed 000)" : $"Attention in {Source}";
            return PictureFiles.WriteAll(folder, PictureFiles.Render(pictures, title, intro, Trace is null && Model is null ? null : Text(), PngScale));
        }
    }

    private static string Vector(double[] v) => "[" + string.Join(", ", v.Select(Number)) + "]";

    private static string RenderSeedText(AttentionTrace t, bool scaled, int focus)
    {
        int width = t.Tokens.Max(s => s.Length) + 2;
        var text = new StringBuilder();
        void Line(string s = "") => text.Append(s).Append('\n');

        Line("Self-attention, step by step: \"The cat sat on the mat\" (the worked example of seed 000)");
        Line();
        Line("Step 1. Embeddings (2-d, made up for the example; \"The\" and \"the\" share one)");
        for (int i = 0; i < t.Tokens.Count; i++) Line($"  {t.Tokens[i].PadRight(width)}E = {Vector(t.Embeddings[i])}");
        Line();
        Line("Step 2. Weight matrices (those the seed's Step 3 computes with)");
        Line($"  W_Q = [{string.Join(", ", t.WQ.Select(Vector))}]");
        Line($"  W_K = [{string.Join(", ", t.WK.Select(Vector))}]");
        Line($"  W_V = [{string.Join(", ", t.WV.Select(Vector))}]");
        Line();
        Line("Step 3. Q = E*W_Q, K = E*W_K, V = E*W_V for each word");
        for (int i = 0; i < t.Tokens.Count; i++) Line($"  {t.Tokens[i].PadRight(width)}Q = {Vector(t.Q[i])}  K = {Vector(t.K[i])}  V = {Vector(t.V[i])}");
        Line();
        string scaleNote = scaled ? $"scaled by 1/sqrt(d) = {Number(t.Scale)}" : "not scaled by 1/sqrt(d), as the seed chose; --scaled applies it";
        Line($"Step 4. Scores of \"{t.Tokens[focus]}\": Q_{t.Tokens[focus]} . K_j for every word j ({scaleNote})");
        for (int j = 0; j < t.Tokens.Count; j++) Line($"  {t.Tokens[focus]} & {t.Tokens[j].PadRight(width)}{Number(t.Scores[focus][j])}");
        Line();
        Line("Step 5. Softmax of the scores: the attention weights (they sum to 1)");
        for (int j = 0; j < t.Tokens.Count; j++) Line($"  {t.Tokens[focus]} & {t.Tokens[j].PadRight(width)}{Number(t.Weights[focus][j])}");
        Line();
        Line($"Step 6. Weighted sum of the values: output_{t.Tokens[focus]} = sum_j weight_j * V_j");
        for (int j = 0; j < t.Tokens.Count; j++)
        {
            double w = t.Weights[focus][j];
            Line($"  {Number(w)} * {Vector(t.V[j]),-18} = {Vector(t.V[j].Select(x => w * x).ToArray())}");
        }

        Line($"  output {t.Tokens[focus]} = {Vector(t.Outputs[focus])}");
        Line();
        Line("Every word's output (the same steps with each word as the query):");
        for (int i = 0; i < t.Tokens.Count; i++) Line($"  {t.Tokens[i].PadRight(width)}{Vector(t.Outputs[i])}");
        Line();
        if (!scaled)
        {
            Line("Where the seed slips:");
            foreach (string slip in CatSatOnTheMat.Slips) Line($"  - {slip}");
        }

        return text.ToString();
    }
}
