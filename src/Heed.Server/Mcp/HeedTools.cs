using System.ComponentModel;
using System.Text.Json.Nodes;
using Heed.Server.Services;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>A model's configuration, as the MCP tool returns it.</summary>
/// <param name="Id">The model id.</param>
/// <param name="Config">Its configuration.</param>
public sealed record ModelConfig(string Id, JsonObject Config);

/// <summary>Confirms a deletion.</summary>
/// <param name="What">What was deleted.</param>
public sealed record Deleted(string What);

/// <summary>
/// Heed's MCP tools: one per capability, each a thin call into the same services the REST API and the CLI use.
/// A <see cref="HeedException"/> becomes a tool result with <c>isError</c> and the one-line message.
/// </summary>
[McpServerToolType]
public sealed class HeedTools
{
    private readonly AttentionService _attention;
    private readonly MultiHeadAttentionService _multiHead;
    private readonly ExplainService _explain;
    private readonly LookupService _lookup;
    private readonly ModelCatalog _models;
    private readonly RunService _runs;
    private readonly Workspace _workspace;

    /// <summary>Creates the tools over the services.</summary>
    public HeedTools(AttentionService attention, MultiHeadAttentionService multiHead, ExplainService explain, LookupService lookup, ModelCatalog models, RunService runs, Workspace workspace)
    {
        _attention = attention;
        _multiHead = multiHead;
        _explain = explain;
        _lookup = lookup;
        _models = models;
        _runs = runs;
        _workspace = workspace;
    }

    /// <summary>The ONNX Attention operator.</summary>
    [McpServerTool(Name = "attention", Title = "Attention (ONNX opsets 23-25)", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Y = softmax(scale·Q·Kᵀ (softcapped) + mask)·V with the full ONNX Attention semantics: masks, causal with KV-cache offsets, GQA, softcap, sliding windows, nonpad_kv_seqlen, qk_matmul_output modes, softmax precision. Tensors are {shape, dtype, data} or {npy: base64}.")]
    public AttentionResponse Attention([Description("Q, K, V, optional inputs and attributes.")] AttentionRequest request, CancellationToken cancellation = default) => Guard(() => _attention.Compute(request, cancellation));

    /// <summary>A multi-head attention layer.</summary>
    [McpServerTool(Name = "multi_head_attention", Title = "Multi-head attention layer", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs a multi-head attention layer (x·W_q, x·W_k, x·W_v, H heads, optional W_o and residual) and returns the output and, on request, the weights per head or averaged.")]
    public MultiHeadAttentionResponse MultiHeadAttention([Description("The input, the weights and the options.")] MultiHeadAttentionRequest request, CancellationToken cancellation = default) => Guard(() => _multiHead.Forward(request, cancellation));

    /// <summary>Step-by-step explanation.</summary>
    [McpServerTool(Name = "explain", Title = "Explain attention step by step", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Everything 'heed explain' does: a model id and a prompt (one head of a real model run, focus as a piece or #N), or every step of single-head self-attention (embeddings, Q, K, V, scores, softmax weights, weighted sum) for tokens with embeddings and W_Q/W_K/W_V (scale, causal, focus), or the focus token's weights in attention weights computed elsewhere; reference: replay through the float64 reference and report the largest differences; pictures (heatmap, model view, head view, network, rollout) as SVG or PNG and the self-contained HTML report on request. With no input, the seed example \"The cat sat on the mat\".")]
    public ExplainResponse Explain([Description("The input (as in a 'heed explain --input' file) and options; or nothing for the seed example.")] ExplainRequest request, CancellationToken cancellation = default) => Guard(() => _explain.Explain(request, cancellation));

    /// <summary>Soft key-value lookup.</summary>
    [McpServerTool(Name = "lookup", Title = "Soft key-value lookup", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("What 'heed lookup' does: matches a query word against key words by the dot product of their vectors, turns the scores into softmax weights and blends the values; every field left out takes the seed's kv_lookup(\"fruit\", [\"apple\", \"banana\", \"chair\"], [10, 5, 2]).")]
    public LookupResponse Lookup([Description("Query, keys, values and where word vectors come from.")] LookupRequest request, CancellationToken cancellation = default) => Guard(() => _lookup.Lookup(request, cancellation));

    /// <summary>Lists models.</summary>
    [McpServerTool(Name = "list_models", Title = "List models", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The models this server can see, by id: built-ins and the configured models folder, with their format and whether they can be run.")]
    public ModelList ListModels() => Guard(() => new ModelList(_models.List()));

    /// <summary>A model's configuration.</summary>
    [McpServerTool(Name = "model_config", Title = "Model configuration", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("A model's configuration: layers, heads and sizes.")]
    public ModelConfig GetModelConfig([Description("The model id from list_models.")] string id) => Guard(() => new ModelConfig(id, _models.Config(id)));

    /// <summary>Runs a model on a prompt, reporting progress, and returns the report.</summary>
    [McpServerTool(Name = "run_model", Title = "Run a model on a prompt", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs a model on a prompt, capturing every layer's and head's attention; sends progress notifications while it runs and returns the report (strongest links of each head and a step-by-step walk-through). The run is kept until it expires; its weights are resources heed://runs/{id}/layers/{layer}/heads/{head}.")]
    public async Task<RunReport> RunModel(
        RequestContext<CallToolRequestParams> context,
        [Description("The text, e.g. \"The cat sat on the mat\".")] string prompt,
        [Description("The model id; default seed-cat-sat.")] string? model = null,
        [Description("The token to walk through; default the second.")] string? focus = null,
        [Description("Make the report cover every layer (a heatmap, head view and network per layer); default layer 0 only.")] bool allLayers = false,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ProgressToken? token = context.Params?.ProgressToken;
        async Task Notify(RunEvent e)
        {
            if (token is ProgressToken t)
            {
                // Awaited, so every notification is on its way before the result is.
                var value = new ProgressNotificationValue { Progress = e.Done, Total = e.Total > 0 ? e.Total : null, Message = e.Message };
                await context.Server.SendNotificationAsync(NotificationMethods.ProgressNotification, new ProgressNotificationParams { ProgressToken = t, Progress = value }, cancellationToken: cancellation).ConfigureAwait(false);
            }
        }

        // A cancelled tool call (notifications/cancelled, or the client going away) cancels the run as well.
        RunStatus final = await GuardAsync(() => _runs.RunToEndAsync(new RunRequest { Model = model, Prompt = prompt, Focus = focus, AllLayers = allLayers }, Notify, cancellation)).ConfigureAwait(false);
        return Guard(() => final.State == RunState.Succeeded ? _runs.Report(final.Id) : throw new HeedException($"run {final.Id} {final.State.ToString().ToLowerInvariant()}: {final.Error}"));
    }

    /// <summary>A run's status.</summary>
    [McpServerTool(Name = "get_run", Title = "Run status", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("A run's state, progress, tokens and expiry time.")]
    public RunStatus GetRun([Description("The run id.")] string id) => Guard(() => _runs.Get(id));

    /// <summary>A run's report.</summary>
    [McpServerTool(Name = "get_run_report", Title = "Run report", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The report of a finished run: summary, every head's strongest links and picture paths, and the step-by-step walk-through.")]
    public RunReport GetRunReport(
        [Description("The run id.")] string id,
        [Description("Link the heatmap, head view and network of every layer, not only layer 0; default as the run was created.")] bool? allLayers = null) =>
        Guard(() => _runs.Report(id, allLayers));

    /// <summary>One head's weights.</summary>
    [McpServerTool(Name = "get_attention_weights", Title = "Attention weights of one head", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The [T, T] attention weights of one layer and head of a finished run.")]
    public HeadWeights GetAttentionWeights([Description("The run id.")] string id, [Description("The layer, from 0.")] int layer, [Description("The head, from 0.")] int head) => Guard(() => _runs.Weights(id, layer, head));

    /// <summary>Cancels a run.</summary>
    [McpServerTool(Name = "cancel_run", Title = "Cancel a run", ReadOnly = false, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Asks a queued or running run to stop; its state turns Cancelled at its next step (a finished run is left as it is). Returns its status.")]
    public RunStatus CancelRun([Description("The run id.")] string id) => Guard(() => _runs.Cancel(id));

    /// <summary>A picture of a run.</summary>
    [McpServerTool(Name = "get_run_picture", Title = "Picture of a run", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Draws a picture of a finished run: Heatmap or Network of one layer and head, HeadView of a layer (every head unless head is given), ModelView (every layer and head), or Rollout; as SVG text or base64 PNG.")]
    public Picture GetRunPicture(
        [Description("The run id.")] string id,
        [Description("Heatmap, ModelView, HeadView, Network or Rollout.")] PictureKind picture,
        [Description("The layer (default 0).")] int? layer = null,
        [Description("The head (default 0; the head view shows every head unless given).")] int? head = null,
        [Description("Svg (default) or Png.")] PictureFormat format = PictureFormat.Svg) =>
        Guard(() => Pictures.Encode(_runs.Picture(id, picture, layer, head), picture, format));

    /// <summary>Deletes a run.</summary>
    [McpServerTool(Name = "delete_run", Title = "Delete a run", ReadOnly = false, Idempotent = false, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Deletes a run and its weights, pictures and report.")]
    public Deleted DeleteRun([Description("The run id.")] string id) => Guard(() =>
    {
        _runs.Delete(id);
        return new Deleted($"run {id}");
    });

    /// <summary>Lists the workspace.</summary>
    [McpServerTool(Name = "workspace_list", Title = "List workspace matrices", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Every named matrix in the workspace with its shape and metadata.")]
    public MatrixList WorkspaceList() => Guard(() => new MatrixList(_workspace.List(), _workspace.Folder is not null));

    /// <summary>Creates a matrix.</summary>
    [McpServerTool(Name = "workspace_create", Title = "Create a workspace matrix", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Creates a named matrix from values (one list per row) or from rows, columns and a fill value.")]
    public MatrixInfo WorkspaceCreate([Description("The name, values or shape, and metadata.")] MatrixCreateRequest request) => Guard(() => _workspace.Create(request));

    /// <summary>Reads a range.</summary>
    [McpServerTool(Name = "workspace_get", Title = "Read a range of a matrix", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Reads rows [rowStart, rowStart+rowCount) and columns [columnStart, columnStart+columnCount) of a named matrix; omitted counts read to the end.")]
    public MatrixRange WorkspaceGet(
        [Description("The matrix name.")] string name,
        [Description("First row (default 0).")] int? rowStart = null,
        [Description("Row count (default to the end).")] int? rowCount = null,
        [Description("First column (default 0).")] int? columnStart = null,
        [Description("Column count (default to the end).")] int? columnCount = null) =>
        Guard(() => _workspace.Get(name, rowStart ?? 0, rowCount, columnStart ?? 0, columnCount));

    /// <summary>Writes a range.</summary>
    [McpServerTool(Name = "workspace_update", Title = "Write a range of a matrix", ReadOnly = false, Idempotent = true, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Overwrites a rectangle of a named matrix starting at (rowStart, columnStart) and merges metadata.")]
    public MatrixInfo WorkspaceUpdate([Description("The matrix name.")] string name, [Description("Where to write, the values and metadata.")] MatrixUpdateRequest request) => Guard(() => _workspace.Update(name, request));

    /// <summary>Deletes a matrix.</summary>
    [McpServerTool(Name = "workspace_delete", Title = "Delete a workspace matrix", ReadOnly = false, Idempotent = false, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Deletes a named matrix (and its file when the workspace is persisted).")]
    public Deleted WorkspaceDelete([Description("The matrix name.")] string name) => Guard(() =>
    {
        _workspace.Delete(name);
        return new Deleted($"matrix {name}");
    });

    /// <summary>Analyses matrices.</summary>
    [McpServerTool(Name = "workspace_analyse", Title = "Analyse workspace matrices", ReadOnly = false, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs attention (q, k, v) or explain (embeddings, wq, wk, wv) with named matrices as inputs; returns the weights, the output (optionally stored as outputName) and a heatmap chart.")]
    public AnalyseResponse WorkspaceAnalyse([Description("What to run and on which matrices.")] AnalyseRequest request, CancellationToken cancellation = default) => Guard(() => _workspace.Analyse(request, cancellation));

    /// <summary>Awaits a service call, turning an input error into an MCP tool error with the same one-line message.</summary>
    internal static async Task<T> GuardAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (HeedException ex)
        {
            throw new McpException(ex.Message, ex);
        }
    }

    /// <summary>Runs a service call, turning an input error into an MCP tool error with the same one-line message.</summary>
    internal static T Guard<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (HeedException ex)
        {
            throw new McpException(ex.Message, ex);
        }
    }
}
