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
        var command = new Command("explain", "Walk through attention step by step: Q, K, V, one token's scores, softmax, weighted sum, output. With no input, the seed example \"The cat sat on the mat\"; --out DIR also writes pictures and an HTML report.")
        {
            format, view, scaled, reference,
        };
        sources.AddTo(command);
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            Explained run = sources.Resolve(parse, parse.GetValue(scaled), parse.GetValue(reference));
            var stdout = new StringBuilder();
            bool json = parse.GetValue(format) == "json";
            IReadOnlyList<string> written = run.WritePictures(parse.GetValue(sources.Out));
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

        public Option<int?> Head { get; } = new("--head") { Description = "The head to draw (default 0; the head view shows all heads unless given)" };

        public Option<string?> Out { get; } = new("--out") { Description = "A folder for the pictures: heatmap, model-view, head-view, network, rollout (.svg and .png) and report.html" };

        public Option<int?> Width { get; } = new("--width") { Description = "Terminal width in columns for the terminal view (default: the window's)" };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Input, Tokens, Embeddings, WQ, WK, WV, Weights, Scale, Causal, Focus, Layer, Head, Out, Width })
            {
                command.Options.Add(option);
            }
        }

        public Explained Resolve(ParseResult parse, bool seedScaled, bool reference)
        {
            string? outDir = parse.GetValue(Out);
            if (outDir is not null) PictureFiles.CheckFolder(outDir);
            if (parse.GetValue(Width) is int w && w < 20) throw new HeedException($"--width {w} is too narrow; expected at least 20 columns");
            int? layer = parse.GetValue(Layer), head = parse.GetValue(Head);
            string? focus = parse.GetValue(Focus);

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

                AttentionSet set = AttentionSet.FromArray(probabilities, TraceInput.SplitTokens(tokenText), name: Path.GetFileName(weightsPath));
                set.CheckIndex(layer, head);
                int row = FocusRow(set.QueryTokens, focus ?? set.QueryTokens[0]);
                return new Explained(set, null, null, row, layer ?? 0, head, null, Path.GetFileName(weightsPath));
            }

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
            if (input.Scale is double s && !double.IsFinite(s)) throw new HeedException($"--scale {s.ToString(CultureInfo.InvariantCulture)} must be a finite number");
            AttentionTrace trace = input.Trace();
            AttentionSet traceSet = AttentionSet.FromTrace(trace, input.Source);
            traceSet.CheckIndex(layer, head);
            int focusRow = FocusRow(trace.Tokens, input.Focus ?? trace.Tokens[0]);
            TraceComparison? comparison = reference ? TraceComparison.Compare(trace, input.Trace(useReference: true)) : null;
            return new Explained(traceSet, trace, comparison, focusRow, layer ?? 0, head, null, input.Source);
        }

        private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

        private static int FocusRow(IReadOnlyList<string> tokens, string focus)
        {
            int row = AttentionTrace.IndexOf(tokens, focus);
            if (row < 0)
            {
                string list = string.Join(", ", tokens.Take(20)) + (tokens.Count > 20 ? ", …" : "");
                throw new HeedException($"--focus \"{focus}\" is not one of the tokens ({list})");
            }

            return row;
        }
    }

    /// <summary>Something resolved for explaining: a trace (seed or user input) or given weights, and what to show.</summary>
    internal sealed record Explained(AttentionSet Set, AttentionTrace? Trace, TraceComparison? Check, int Focus, int Layer, int? Head, bool? SeedScaled, string Source)
    {
        private bool IsSeed => SeedScaled is not null;

        public string Text()
        {
            var text = new StringBuilder();
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
            if (Check is not null) console.WriteLine(TraceText.Comparison(Check));
        }

        public IReadOnlyList<string> WritePictures(string? folder)
        {
            if (folder is null) return [];
            IReadOnlyList<(string Name, Scene Scene, string Description)> pictures = AttentionPictures.All(Set, Layer, Head);
            var intro = new List<string>
            {
                $"Source: {Source}. {Set.Layers} layer(s) x {Set.Heads} head(s); {Set.QueryLength} query tokens, {Set.KeyLength} key tokens.",
                "Hover over a cell, line or node to read its value. This page needs no network connection.",
            };
            string title = IsSeed ? "Attention in \"The cat sat on the mat\" (seed 000)" : $"Attention in {Source}";
            return PictureFiles.WriteAll(folder, PictureFiles.Render(pictures, title, intro, Trace is null ? null : Text()));
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
