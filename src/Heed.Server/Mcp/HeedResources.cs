using System.ComponentModel;
using System.Text.Json;
using Heed.Server.Services;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>MCP resources: run reports, attention matrices of each head, and workspace matrices, as JSON.</summary>
[McpServerResourceType]
public sealed class HeedResources
{
    private readonly RunService _runs;
    private readonly Workspace _workspace;

    /// <summary>Creates the resources over the services.</summary>
    public HeedResources(RunService runs, Workspace workspace)
    {
        _runs = runs;
        _workspace = workspace;
    }

    /// <summary>A run's report.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/report", Name = "run_report", Title = "Run report", MimeType = "application/json")]
    [Description("The report of a finished run (summary, strongest links per head, step-by-step walk-through).")]
    public string RunReport([Description("The run id.")] string id) => Json(() => _runs.Report(id));

    /// <summary>A run's report as a self-contained HTML page.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/report.html", Name = "run_report_html", Title = "Run report (HTML)", MimeType = "text/html")]
    [Description("The report of a finished run as one self-contained HTML page: every picture (inline SVG) and the step-by-step walk-through.")]
    public string RunReportHtml([Description("The run id.")] string id) => HeedTools.Guard(() => _runs.ReportHtml(id));

    /// <summary>One head's attention matrix.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/layers/{layer}/heads/{head}", Name = "attention_matrix", Title = "Attention matrix of one head", MimeType = "application/json")]
    [Description("The [T, T] attention weights of one layer and head of a finished run, with the tokens.")]
    public string AttentionMatrix([Description("The run id.")] string id, [Description("The layer.")] int layer, [Description("The head.")] int head) => Json(() => _runs.Weights(id, layer, head));

    /// <summary>A workspace matrix.</summary>
    [McpServerResource(UriTemplate = "heed://workspace/{name}", Name = "workspace_matrix", Title = "Workspace matrix", MimeType = "application/json")]
    [Description("A named workspace matrix, whole.")]
    public string WorkspaceMatrix([Description("The matrix name.")] string name) => Json(() => _workspace.Get(name));

    private static string Json<T>(Func<T> read) => JsonSerializer.Serialize(HeedTools.Guard(read), ServerJson.Options);
}
