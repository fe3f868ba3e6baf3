using System.ComponentModel;
using System.Text.Json;
using Heed.Server.Services;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>
/// MCP resources: run reports, attention matrices of each head, pictures of runs, and workspace matrices. A run or matrix
/// that does not exist is JSON-RPC error -32002 (resource not found), other bad input -32602 (see <see cref="HeedMcp"/>).
/// </summary>
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
    public string RunReport([Description("The run id.")] string id) => Json(_runs.Report(id));

    /// <summary>A run's report as a self-contained HTML page.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/report.html", Name = "run_report_html", Title = "Run report (HTML)", MimeType = "text/html")]
    [Description("The report of a finished run as one self-contained HTML page: every picture (inline SVG) and the step-by-step walk-through.")]
    public string RunReportHtml([Description("The run id.")] string id) => _runs.ReportHtml(id);

    /// <summary>One head's attention matrix.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/layers/{layer}/heads/{head}", Name = "attention_matrix", Title = "Attention matrix of one head", MimeType = "application/json")]
    [Description("The [T, T] attention weights of one layer and head of a finished run, with the tokens.")]
    public string AttentionMatrix([Description("The run id.")] string id, [Description("The layer.")] int layer, [Description("The head.")] int head) => Json(_runs.Weights(id, layer, head));

    /// <summary>A picture of a run, PNG or SVG.</summary>
    [McpServerResource(UriTemplate = "heed://runs/{id}/pictures/{file}{?layer,head}", Name = "run_picture", Title = "Picture of a run", MimeType = "image/png")]
    [Description("A picture of a finished run: file is heatmap, model-view, head-view, network or rollout, then .png (a PNG blob) or .svg (SVG text); layer and head default to 0 (the head view shows every head unless head is given).")]
    public ResourceContents RunPicture(
        RequestContext<ReadResourceRequestParams> context,
        [Description("The run id.")] string id,
        [Description("heatmap, model-view, head-view, network or rollout, then .png or .svg.")] string file,
        [Description("The layer (default 0).")] int? layer = null,
        [Description("The head.")] int? head = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        int dot = file.LastIndexOf('.');
        PictureKind kind = Pictures.Parse(dot < 0 ? file : file[..dot]);
        PictureFormat format = dot < 0 ? throw new HeedException($"file: '{file}'; expected a picture name and .png or .svg") : Pictures.ParseFormat(file[(dot + 1)..]);
        Heed.Explain.Pictures.Scene scene = _runs.Picture(id, kind, layer, head);
        string uri = context.Params?.Uri ?? $"heed://runs/{id}/pictures/{file}";
        return format == PictureFormat.Png
            ? BlobResourceContents.FromBytes(Pictures.Png(scene), uri, "image/png")
            : new TextResourceContents { Uri = uri, MimeType = "image/svg+xml", Text = Pictures.Svg(scene) };
    }

    /// <summary>A workspace matrix.</summary>
    [McpServerResource(UriTemplate = "heed://workspace/{name}", Name = "workspace_matrix", Title = "Workspace matrix", MimeType = "application/json")]
    [Description("A named workspace matrix, whole.")]
    public string WorkspaceMatrix([Description("The matrix name.")] string name) => Json(_workspace.Get(name));

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, ServerJson.Options);
}
