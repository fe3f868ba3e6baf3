using System.ComponentModel;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>MCP prompts.</summary>
[McpServerPromptType]
public sealed class HeedPrompts
{
    /// <summary>Asks the agent to explain, with Heed's tools, how attention reads a sentence.</summary>
    [McpServerPrompt(Name = "explain_sentence", Title = "Explain this sentence")]
    [Description("Explain, step by step and with pictures, how attention reads a sentence.")]
    public static string ExplainSentence(
        [Description("The sentence, e.g. \"The cat sat on the mat\".")] string sentence,
        [Description("The model id (default seed-cat-sat).")] string? model = null) =>
        $"""
        Explain how attention reads this sentence: "{sentence}".
        1. Call the tool run_model with model "{model ?? "seed-cat-sat"}" and this prompt; it reports progress and returns the run's status, a summary and links to its resources.
        2. Read the run's report (the resource heed://runs/<run id>/report, or the tool get_run_report) and say for each head which word each word attends to most (its strongest links), in plain words.
        3. Walk through the report's explanation steps for the focus word: its query and keys, its scores, the softmax weights and the weighted sum of values, quoting the numbers.
        4. Show or point the reader to the heatmap of layer 0, head 0 (the resource heed://runs/<run id>/pictures/heatmap.png, or the tool get_run_picture).
        Keep it short and exact; say which numbers come from a toy model if the report's notes say so.
        """;
}
