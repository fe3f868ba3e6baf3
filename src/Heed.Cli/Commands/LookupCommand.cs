using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Heed.Explain;
using Heed.Explain.Seeds;
using Heed.Explain.Terminal;

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
        var scaled = new Option<bool>("--scaled") { Description = "Divide the scores by sqrt(d) (the seed's lookup does not)" };
        var reference = new Option<bool>("--reference") { Description = "Run on the float64 reference implementation" };
        var format = new Option<string>("--format") { Description = "text, table (a coloured table) or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "table", "json");
        var command = new Command("lookup", "A dictionary lookup by meaning (seed 003): each key gets softmax(query . key) of the attention, and the result is the weighted sum of the values.")
        {
            query, keys, values, vectors, scaled, reference, format,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            string? vectorFile = parse.GetValue(vectors);
            WordVectors table = vectorFile is null ? FruitLookup.Vectors() : WordVectors.Load(vectorFile);
            string q = parse.GetValue(query) ?? FruitLookup.Query;
            IReadOnlyList<string> keyWords = parse.GetValue(keys) is string k ? SplitWords(k, "--keys") : FruitLookup.Keys;
            double[] numbers = parse.GetValue(values) is string v ? ParseValues(v) : FruitLookup.Values();
            if (numbers.Length != keyWords.Count)
            {
                throw new HeedException($"--values has {numbers.Length} numbers for {keyWords.Count} keys; expected one value per key");
            }

            double[] qv = table.Get(q, "--query");
            double[][] kv = keyWords.Select(w => table.Get(w, "--keys")).ToArray();
            double scale = parse.GetValue(scaled) ? 1 / Math.Sqrt(table.Dimension) : 1;
            LookupResult result = KeyValueLookup.Compute(q, qv, keyWords, kv, numbers, scale, parse.GetValue(reference));
            TextWriter output = parse.InvocationConfiguration.Output;
            switch (parse.GetValue(format))
            {
                case "json":
                    output.WriteLine(JsonSerializer.Serialize(new { result.Query, result.Keys, result.Values, vectors = table.Source, result.QueryVector, result.KeyVectors, result.Scale, result.Scores, result.Weights, result.Blended }, Json));
                    break;
                case "table":
                    TerminalView.Lookup(ExplainCommand.Console(output, null), result);
                    break;
                default:
                    output.Write(Text(result, table));
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

    private static string Text(LookupResult r, WordVectors table)
    {
        var text = new System.Text.StringBuilder();
        void Line(string s = "") => text.Append(s).Append('\n');
        string N(double x) => TraceText.Number(x);
        int width = r.Keys.Append(r.Query).Max(k => k.Length) + 2;
        Line($"Soft key-value lookup of \"{r.Query}\" (seed 003): attention = softmax(q . K^T{(r.Scale == 1 ? "" : " * " + N(r.Scale))}) . v");
        Line($"Word vectors: {table.Source}, {table.Dimension} numbers each");
        Line();
        Line($"  q = {r.Query.PadRight(width)}{TraceText.Vector(r.QueryVector)}");
        for (int i = 0; i < r.Keys.Count; i++) Line($"  k = {r.Keys[i].PadRight(width)}{TraceText.Vector(r.KeyVectors[i])}   value {N(r.Values[i])}");
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
