using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Heed.Explain;
using Heed.Explain.Seeds;
using Heed.Explain.Terminal;
using Heed.Models;
using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;

namespace Heed.Cli.Commands;

/// <summary><c>heed lookup</c>: the soft key-value lookup of seed 003, softmax(q·Kᵀ)·v over word vectors.</summary>
internal static class LookupCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var query = new Option<string?>("--query") { Description = "The word to look up (default: the seed's \"fruit\")" };
        var keys = new Option<string?>("--keys") { Description = "Comma-separated key words (default: apple,banana,chair)" };
        var values = new Option<string?>("--values") { Description = "Comma-separated numbers, one per key (default: 10,5,2)" };
        var vectors = new Option<string?>("--vectors") { Description = "Word vectors: JSON {\"word\": [numbers], ...} or text lines \"word n1 n2 ...\" (default: small made-up vectors for the seed's example)" };
        var model = new Option<string?>("--model") { Description = "Take the word vectors from this model: a llama2.c checkpoint or a GPT-2 folder (its token embedding table; a word of several tokens gets the mean of their embeddings), or a BERT-family encoder (each word's contextual sentence embedding)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "With --model: tok*.bin, a GPT-2 folder or vocab.json, or a .gguf vocabulary (default: the one beside the model)" };
        var scaled = new Option<bool>("--scaled") { Description = "Divide the scores by sqrt(d) (the seed's lookup does not)" };
        var reference = new Option<bool>("--reference") { Description = "Run on the float64 reference implementation" };
        var format = new Option<string>("--format") { Description = "text, table (a coloured table) or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "table", "json");
        var command = new Command("lookup", "A dictionary lookup by meaning (seed 003): each key gets softmax(query . key) of the attention, and the result is the weighted sum of the values.")
        {
            query, keys, values, vectors, model, tokenizer, scaled, reference, format,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            string? vectorFile = parse.GetValue(vectors);
            string? modelPath = parse.GetValue(model);
            if (modelPath is not null && vectorFile is not null) throw new HeedException("--vectors and --model both give word vectors; choose one");
            if (modelPath is null && parse.GetValue(tokenizer) is not null) throw new HeedException("--tokenizer needs --model PATH (the model whose embeddings are the word vectors)");
            string q = parse.GetValue(query) ?? FruitLookup.Query;
            IReadOnlyList<string> keyWords = parse.GetValue(keys) is string k ? SplitWords(k, "--keys") : FruitLookup.Keys;
            double[] numbers = parse.GetValue(values) is string v ? ParseValues(v) : FruitLookup.Values();
            if (numbers.Length != keyWords.Count)
            {
                throw new HeedException($"--values has {numbers.Length} numbers for {keyWords.Count} keys; expected one value per key");
            }

            IReadOnlyList<WordPieces>? pieces = null;
            WordVectors table;
            bool contextual = modelPath is not null && SentenceEncoder.IsEncoder(modelPath);
            if (contextual)
            {
                if (parse.GetValue(tokenizer) is not null) throw new HeedException("--tokenizer does not apply to an encoder: it reads the vocab.txt beside its weights");
                SentenceEncoder encoder = SentenceEncoder.Load(modelPath!);
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath!));
                IEnumerable<(string, string)> words = keyWords.Select(w => (w, "--keys")).Prepend((q, "--query"));
                table = ModelEmbeddings.Vectors(encoder, words, $"the sentence embeddings of {name} (each word run through the encoder on its own)", out pieces);
            }
            else if (modelPath is not null)
            {
                ICausalLanguageModel loaded = ModelFiles.LoadModel(modelPath);
                ITokenizer tok = ModelFiles.LoadTokenizer(parse.GetValue(tokenizer) ?? ModelFiles.FindTokenizer(modelPath));
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath));
                IEnumerable<(string, string)> words = keyWords.Select(w => (w, "--keys")).Prepend((q, "--query"));
                table = ModelEmbeddings.Vectors(loaded, tok, words, $"the token embeddings of {name}", out pieces);
            }
            else
            {
                table = vectorFile is null ? FruitLookup.Vectors() : WordVectors.Load(vectorFile);
            }

            double[] qv = table.Get(q, "--query");
            double[][] kv = keyWords.Select(w => table.Get(w, "--keys")).ToArray();
            double scale = parse.GetValue(scaled) ? 1 / Math.Sqrt(table.Dimension) : 1;
            LookupResult result = KeyValueLookup.Compute(q, qv, keyWords, kv, numbers, scale, parse.GetValue(reference));
            TextWriter output = parse.InvocationConfiguration.Output;
            switch (parse.GetValue(format))
            {
                case "json":
                    output.WriteLine(JsonSerializer.Serialize(new { result.Query, result.Keys, result.Values, vectors = table.Source, pieces = pieces?.ToDictionary(p => p.Word, p => p.Pieces), result.QueryVector, result.KeyVectors, result.Scale, result.Scores, result.Weights, result.Blended }, Json));
                    break;
                case "table":
                    TerminalView.Lookup(ExplainCommand.Console(output, null), result);
                    break;
                default:
                    output.Write(Text(result, table, pieces, seed: modelPath is null && vectorFile is null, contextual));
                    break;
            }

            return 0;
        }));
        return command;
    }

    private static string[] SplitWords(string text, string flag)
    {
        string[] words = text.Split(',', StringSplitOptions.TrimEntries);
        if (words.Any(w => w.Length == 0)) throw new HeedException($"{flag} \"{text}\" has an empty word; expected comma-separated words");
        return words;
    }

    private static double[] ParseValues(string text) => text.Split(',', StringSplitOptions.TrimEntries).Select(s =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x)
            ? x
            : throw new HeedException($"--values: \"{s}\" is not a number; expected comma-separated numbers like 10,5,2")).ToArray();

    private static string Text(LookupResult r, WordVectors table, IReadOnlyList<WordPieces>? pieces, bool seed, bool contextual)
    {
        var text = new System.Text.StringBuilder();
        void Line(string s = "") => text.Append(s).Append('\n');
        string N(double x) => TraceText.Number(x);
        int width = r.Keys.Append(r.Query).Max(k => k.Length) + 2;
        Line($"Soft key-value lookup of \"{r.Query}\"{(seed ? " (seed 003)" : "")}: attention = softmax(q . K^T{(r.Scale == 1 ? "" : " * " + N(r.Scale))}) . v");
        Line($"Word vectors: {table.Source}, {table.Dimension} numbers each{(table.Dimension > HeadTraceText.MaxNumbers ? $" (the first {HeadTraceText.MaxNumbers} shown; --format json has all)" : "")}");
        if (pieces is not null)
        {
            Line(contextual
                ? "  Each word is read by the encoder as [CLS] word [SEP]; its vector is the pooled last hidden state (meaning in context, not a table row):"
                : "  Each word is encoded as inside a sentence (after a space); a word of several tokens gets the mean of their embeddings:");
            foreach (WordPieces p in pieces)
            {
                string ids = string.Join(" + ", p.Pieces.Zip(p.Ids, (piece, id) => $"\"{piece}\" ({id})"));
                Line($"  {p.Word.PadRight(width)}= {ids}{(p.Ids.Count > 1 && !contextual ? $", mean of {p.Ids.Count}" : "")}");
            }
        }

        Line();
        Line($"  q = {r.Query.PadRight(width)}{HeadTraceText.Vector(r.QueryVector)}");
        for (int i = 0; i < r.Keys.Count; i++) Line($"  k = {r.Keys[i].PadRight(width)}{HeadTraceText.Vector(r.KeyVectors[i])}   value {N(r.Values[i])}");
        Line();
        Line($"  {"key".PadRight(width)}{"score",10}{"weight",10}{"weight*value",14}");
        for (int i = 0; i < r.Keys.Count; i++)
        {
            Line($"  {r.Keys[i].PadRight(width)}{N(r.Scores[i]),10}{N(r.Weights[i]),10}{N(r.Weights[i] * r.Values[i]),14}");
        }

        Line();
        Line($"Blended value: lookup(\"{r.Query}\") = {string.Join(" + ", r.Keys.Select((_, i) => $"{N(r.Weights[i])}*{N(r.Values[i])}"))} = {N(r.Blended)}");
        return text.ToString();
    }
}
