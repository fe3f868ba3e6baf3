using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Heed.Explain;
using Heed.Explain.Seeds;

namespace Heed.Cli.Commands;

/// <summary><c>heed explain</c>: every step of attention, as the seeds walk through it.</summary>
internal static class ExplainCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var format = new Option<string>("--format") { Description = "text (for people) or json (the whole trace, for programs and agents)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var scaled = new Option<bool>("--scaled") { Description = "Divide the scores by sqrt(d) as real transformers do (the seed leaves it out)" };
        var reference = new Option<bool>("--reference") { Description = "Run the attention on the float64 reference implementation" };
        var command = new Command("explain", "Walk through attention step by step; with no arguments, the seed example \"The cat sat on the mat\".")
        {
            format, scaled, reference,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            bool isScaled = parse.GetValue(scaled);
            AttentionTrace trace = CatSatOnTheMat.Trace(isScaled, parse.GetValue(reference));
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(format) == "json")
            {
                output.WriteLine(JsonSerializer.Serialize(ToJson(trace, isScaled), Json));
            }
            else
            {
                output.Write(RenderSeedText(trace, isScaled));
            }

            return 0;
        }));
        return command;
    }

    private static object ToJson(AttentionTrace trace, bool scaled)
    {
        int focus = trace.IndexOf(CatSatOnTheMat.Focus);
        return new
        {
            example = "The cat sat on the mat",
            source = "seed 000: Transformer Attention: A Guide to the Q, K, and V Matrices",
            focus = CatSatOnTheMat.Focus,
            scaled,
            trace.Scale,
            trace.Tokens,
            trace.Embeddings,
            wQ = trace.WQ,
            wK = trace.WK,
            wV = trace.WV,
            trace.Q,
            trace.K,
            trace.V,
            trace.Scores,
            trace.Weights,
            trace.Outputs,
            focusOutput = trace.Outputs[focus],
            trace.Reference,
            seedSlips = CatSatOnTheMat.Slips,
        };
    }

    internal static string Number(double x)
    {
        string s = x.ToString("0.0000", CultureInfo.InvariantCulture);
        return s == "-0.0000" ? "0.0000" : s;
    }

    private static string Vector(double[] v) => "[" + string.Join(", ", v.Select(Number)) + "]";

    private static string RenderSeedText(AttentionTrace t, bool scaled)
    {
        int focus = t.IndexOf(CatSatOnTheMat.Focus);
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
