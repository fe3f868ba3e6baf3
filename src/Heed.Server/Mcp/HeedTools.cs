using System.ComponentModel;
using System.Globalization;
using Heed.Server.Services;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>Confirms a deletion.</summary>
/// <param name="What">What was deleted.</param>
public sealed record Deleted(string What);

/// <summary>A resource of Heed's that a tool's answer points to (also sent as a <c>resource_link</c> block).</summary>
/// <param name="Uri">The resource's URI, for resources/read.</param>
/// <param name="Name">Its name.</param>
/// <param name="MimeType">What reading it gives.</param>
/// <param name="Description">What it holds.</param>
public sealed record ResourceRef(string Uri, string Name, string MimeType, string Description);

/// <summary>
/// What run_model answers: the finished run's status and summary, and where its report, pictures and weights are. The
/// full report is the resource it links (or the tool get_run_report), so the answer stays a few kilobytes.
/// </summary>
/// <param name="Status">The run's status.</param>
/// <param name="Summary">A few sentences in plain words.</param>
/// <param name="Notes">Facts the reader should know.</param>
/// <param name="Resources">The report (JSON and HTML), pictures and weights of the run, as resources.</param>
public sealed record RunOutcome(RunStatus Status, IReadOnlyList<string> Summary, IReadOnlyList<string> Notes, IReadOnlyList<ResourceRef> Resources);

/// <summary>A picture a tool drew; the picture itself is the image (PNG) or embedded SVG resource that follows.</summary>
/// <param name="Name">heatmap, model-view, head-view, network or rollout.</param>
/// <param name="Title">The picture's title.</param>
/// <param name="MediaType">image/svg+xml or image/png.</param>
/// <param name="Uri">The picture as a resource, for resources/read.</param>
public sealed record PictureInfo(string Name, string Title, string MediaType, string Uri);

/// <summary>
/// Heed's MCP tools: one per capability, each a thin call into the same services the REST API and the CLI use. Each
/// method's record parameter is the request record REST takes as its body; <see cref="HeedTool"/> makes its fields the
/// tool's top-level arguments and turns a <see cref="HeedException"/> into a tool result with <c>isError</c> and the
/// one-line message.
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
    private readonly EmbeddingService _embeddings;
    private readonly GenerationService _generation;
    private readonly TrainingService _trainings;

    /// <summary>Creates the tools over the services.</summary>
    public HeedTools(AttentionService attention, MultiHeadAttentionService multiHead, ExplainService explain, LookupService lookup, ModelCatalog models, RunService runs, Workspace workspace, EmbeddingService embeddings, GenerationService generation, TrainingService trainings)
    {
        _trainings = trainings;
        _embeddings = embeddings;
        _generation = generation;
        _attention = attention;
        _multiHead = multiHead;
        _explain = explain;
        _lookup = lookup;
        _models = models;
        _runs = runs;
        _workspace = workspace;
    }

    /// <summary>The ONNX Attention operator.</summary>
    [Computes]
    [McpServerTool(Name = "attention", Title = "Attention (ONNX opsets 23-25)", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Y = softmax(scale·Q·Kᵀ (softcapped) + mask)·V with the full ONNX Attention semantics: masks, causal with KV-cache offsets, GQA, softcap, sliding windows, nonpad_kv_seqlen, qk_matmul_output modes, softmax precision. q, k and v are required; tensors are {shape, dtype, data} or {npy: base64}.")]
    public AttentionResponse Attention(AttentionRequest request, CancellationToken cancellation = default) => _attention.Compute(request, cancellation);

    /// <summary>A multi-head attention layer.</summary>
    [Computes]
    [McpServerTool(Name = "multi_head_attention", Title = "Multi-head attention layer", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs a multi-head attention layer (x·W_q, x·W_k, x·W_v, H heads, optional W_o and residual) and returns the output and, on request, the weights per head or averaged. x, wq, wk and wv are required.")]
    public MultiHeadAttentionResponse MultiHeadAttention(MultiHeadAttentionRequest request, CancellationToken cancellation = default) => _multiHead.Forward(request, cancellation);

    /// <summary>Step-by-step explanation; the pictures and the HTML report follow the JSON as content blocks.</summary>
    [Computes]
    [McpServerTool(Name = "explain", Title = "Explain attention step by step", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Everything 'heed explain' does: a model id and a prompt (one head of a real model run, focus as a piece or #N), or every step of single-head self-attention (embeddings, Q, K, V, scores, softmax weights, weighted sum) for tokens with embeddings and W_Q/W_K/W_V (scale, causal, focus), or the focus token's weights in attention weights computed elsewhere; reference: replay through the float64 reference and report the largest differences. Pictures (heatmap, model view, head view, network, rollout) follow the JSON in the order asked, as PNG images or embedded SVG resources, and the self-contained HTML report on request as an embedded text/html resource; they are not kept on the server. Every field has a default: with none, the seed example \"The cat sat on the mat\".")]
    public ToolAnswer<ExplainResponse> Explain(ExplainRequest request, CancellationToken cancellation = default)
    {
        ExplainResponse response = _explain.Explain(request, cancellation);
        var content = new List<ContentBlock>();
        foreach (Picture picture in response.Pictures ?? [])
        {
            content.Add(Block(picture, $"heed://explain/{picture.Name}"));
        }

        if (response.Report is string html)
        {
            content.Add(new EmbeddedResourceBlock { Resource = new TextResourceContents { Uri = "heed://explain/report.html", MimeType = "text/html", Text = html } });
        }

        return new ToolAnswer<ExplainResponse>(response with { Pictures = null, Report = null }, content);
    }

    /// <summary>Soft key-value lookup.</summary>
    [Computes]
    [McpServerTool(Name = "lookup", Title = "Soft key-value lookup", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("What 'heed lookup' does: matches a query word against key words by the dot product of their vectors, turns the scores into softmax weights and blends the values; every field has a default, and every field left out takes the seed's kv_lookup(\"fruit\", [\"apple\", \"banana\", \"chair\"], [10, 5, 2]).")]
    public LookupResponse Lookup(LookupRequest request, CancellationToken cancellation = default) => _lookup.Lookup(request, cancellation);

    /// <summary>Sentence embeddings from an encoder.</summary>
    [Computes]
    [McpServerTool(Name = "embed", Title = "Embed texts with an encoder", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("What 'heed embed' does: sentence embeddings of texts from a BERT-family encoder in the models folder (list_models, kind encoder; e.g. all-MiniLM-L6-v2): the tokens each text became and one vector per text (pooling mean or cls, scaled to length 1 unless normalize is false), or each text's last hidden state with pooling none. model and texts are required; pooling and normalize default to the model's sentence-transformers config. Cosine similarity of two normalized embeddings is their dot product.")]
    public EmbedResponse Embed(EmbedRequest request, CancellationToken cancellation = default) => _embeddings.Embed(request, cancellation);

    /// <summary>Generates text, with a progress notification per token.</summary>
    [Computes]
    [McpServerTool(Name = "generate", Title = "Generate text with a model", ReadOnly = true, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Generates text with a decoder in the models folder (list_models, kind decoder: llama2.c, GGUF llama, GPT-2): continues a prompt as written, or answers messages written in the model's chat format; greedy by default (temperature 0), or sampled with temperature, topP, topK and seed; stops at the end of text, a stop sequence, or maxTokens. Sends a progress notification per new token (progress = tokens so far, total = maxTokens, message = the new text) when the call has a progress token; cancelling the call stops generation at once. Returns the text, the token counts and why it stopped.")]
    public async Task<GenerateResponse> Generate(RequestContext<CallToolRequestParams> context, GenerationRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ProgressToken? token = context.Params?.ProgressToken;
        int total = _generation.MaxTokens(request);
        int sent = 0;
        GenerateResponse? result = null;
        await foreach (GenerateEvent e in _generation.StreamAsync(request, cancellation).ConfigureAwait(false))
        {
            result = e.Result ?? result;

            // Progress must increase with every notification: text held back to the end comes with the last token's count, unsent.
            if (token is ProgressToken t && e.Result is null && e.Tokens > sent)
            {
                sent = e.Tokens;
                var value = new ProgressNotificationValue { Progress = e.Tokens, Total = total, Message = e.Text };
                await context.Server.SendNotificationAsync(NotificationMethods.ProgressNotification, new ProgressNotificationParams { ProgressToken = t, Progress = value }, cancellationToken: cancellation).ConfigureAwait(false);
            }
        }

        return result!;
    }

    /// <summary>Lists models.</summary>
    [McpServerTool(Name = "list_models", Title = "List models", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The models this server can see, by id: built-ins and the configured models folder, with their format, their kind (toy, decoder: generate; encoder: embed) and whether they can be run.")]
    public ModelList ListModels() => new(_models.List());

    /// <summary>A model's configuration.</summary>
    [McpServerTool(Name = "model_config", Title = "Model configuration", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("A model's configuration: architecture, width, layers, heads (query and key/value), head size, vocabulary and context length; the same object as GET /api/v1/models/{id}/config.")]
    public ModelConfiguration GetModelConfig([Description("The model id from list_models.")] string id) => _models.Config(id);

    /// <summary>Runs a model on a prompt, reporting progress, and returns the status, the summary and links to the rest.</summary>
    [Computes]
    [McpServerTool(Name = "run_model", Title = "Run a model on a prompt", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs a model on a prompt, capturing every layer's and head's attention; sends progress notifications while it runs (when the call has a progress token) and returns the run's status and a summary in plain words, with resource links to its full report (every head's strongest links and the step-by-step walk-through; also the tool get_run_report), its HTML report, pictures and the weights of layer 0, head 0. The run is kept until it expires; the weights of any head are the resources heed://runs/{id}/layers/{layer}/heads/{head}.")]
    public async Task<ToolAnswer<RunOutcome>> RunModel(
        RequestContext<CallToolRequestParams> context,
        [Description("The text, e.g. \"The cat sat on the mat\".")] string prompt,
        [Description("The model id; default seed-cat-sat.")] string? model = null,
        [Description("The token to walk through; default the second.")] string? focus = null,
        [Description("Make the report cover every layer (a heatmap, head view and network per layer); default layer 0 only.")] bool allLayers = false,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ProgressToken? token = context.Params?.ProgressToken;
        int sent = -1;
        async Task Notify(RunEvent e)
        {
            // The specification wants progress to increase with every notification, and a total lets a client draw a bar:
            // the events before the run knows its step count (queued, started) and the last one, which repeats the final
            // step as "done", are not sent.
            if (token is ProgressToken t && e.Total > 0 && e.Done > sent)
            {
                sent = e.Done;
                var value = new ProgressNotificationValue { Progress = e.Done, Total = e.Total, Message = e.Message };

                // Awaited, so every notification is on its way before the result is.
                await context.Server.SendNotificationAsync(NotificationMethods.ProgressNotification, new ProgressNotificationParams { ProgressToken = t, Progress = value }, cancellationToken: cancellation).ConfigureAwait(false);
            }
        }

        // A cancelled tool call (notifications/cancelled, or the client going away) cancels the run as well.
        RunStatus final = await _runs.RunToEndAsync(new RunRequest { Model = model, Prompt = prompt, Focus = focus, AllLayers = allLayers }, Notify, cancellation).ConfigureAwait(false);
        if (final.State != RunState.Succeeded)
        {
            throw new HeedException($"run {final.Id} {final.State.ToString().ToLowerInvariant()}: {final.Error}");
        }

        RunReport report = _runs.Report(final.Id);
        string run = $"heed://runs/{final.Id}";
        ResourceRef[] resources =
        [
            new($"{run}/report", "run_report", "application/json", "The full report: every head's strongest links, picture links and the step-by-step walk-through of the focus token."),
            new($"{run}/report.html", "run_report_html", "text/html", "The report as one self-contained HTML page with every picture."),
            new($"{run}/pictures/model-view.png", "model_view", "image/png", "Every layer and head at once, on one colour scale."),
            new($"{run}/pictures/heatmap.png", "heatmap", "image/png", "The weights of layer 0, head 0: row = attending token, column = attended token."),
            new($"{run}/layers/0/heads/0", "attention_matrix", "application/json", "The [T, T] weights of layer 0, head 0, with the tokens."),
        ];
        ContentBlock[] links = resources.Select(r => (ContentBlock)new ResourceLinkBlock { Uri = r.Uri, Name = r.Name, MimeType = r.MimeType, Description = r.Description }).ToArray();
        return new ToolAnswer<RunOutcome>(new RunOutcome(report.Status, report.Summary, report.Notes, resources), links);
    }

    /// <summary>A run's status.</summary>
    [McpServerTool(Name = "get_run", Title = "Run status", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("A run's state, progress, tokens and expiry time.")]
    public RunStatus GetRun([Description("The run id.")] string id) => _runs.Get(id);

    /// <summary>A run's report.</summary>
    [McpServerTool(Name = "get_run_report", Title = "Run report", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The report of a finished run: summary, every head's strongest links and picture paths, and the step-by-step walk-through (the resource heed://runs/{id}/report holds the same).")]
    public RunReport GetRunReport(
        [Description("The run id.")] string id,
        [Description("Link the heatmap, head view and network of every layer, not only layer 0; default as the run was created.")] bool? allLayers = null) =>
        _runs.Report(id, allLayers);

    /// <summary>One head's weights.</summary>
    [McpServerTool(Name = "get_attention_weights", Title = "Attention weights of one head", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("The [T, T] attention weights of one layer and head of a finished run.")]
    public HeadWeights GetAttentionWeights([Description("The run id.")] string id, [Description("The layer, from 0.")] int layer, [Description("The head, from 0.")] int head) => _runs.Weights(id, layer, head);

    /// <summary>One head of a run walked through for one token.</summary>
    [McpServerTool(Name = "explain_run_head", Title = "One head of a run, step by step", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("One layer and head of a finished run walked through for the query token at a position: the head's Q, K and V, scores = scale·Q·Kᵀ, softmax weights, outputs and the steps in words, from what the run recorded (nothing runs again).")]
    public ExplainResponse ExplainRunHead(
        [Description("The run id.")] string id,
        [Description("The layer, from 0.")] int layer,
        [Description("The head, from 0.")] int head,
        [Description("The focus token's position among the tokens, from 0; default the run's focus, as in the report.")] int? position = null) =>
        _runs.ExplainHead(id, layer, head, position);

    /// <summary>Cancels a run.</summary>
    [McpServerTool(Name = "cancel_run", Title = "Cancel a run", ReadOnly = false, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Asks a queued or running run to stop; its state turns Cancelled at its next step (a finished run is left as it is). Returns its status.")]
    public RunStatus CancelRun([Description("The run id.")] string id) => _runs.Cancel(id);

    /// <summary>A picture of a run, as an image (PNG) or an embedded SVG resource after its JSON description.</summary>
    [McpServerTool(Name = "get_run_picture", Title = "Picture of a run", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Draws a picture of a finished run: Heatmap or Network of one layer and head, HeadView of a layer (every head unless head is given), ModelView (every layer and head), or Rollout. The JSON names it and gives its resource URI; the picture follows as a PNG image, or as an embedded SVG resource (image/svg+xml text with hover readouts).")]
    public ToolAnswer<PictureInfo> GetRunPicture(
        [Description("The run id.")] string id,
        [Description("Heatmap, ModelView, HeadView, Network or Rollout.")] PictureKind picture,
        [Description("The layer (default 0).")] int? layer = null,
        [Description("The head (default 0; the head view shows every head unless given).")] int? head = null,
        [Description("Svg (default) or Png.")] PictureFormat format = PictureFormat.Svg)
    {
        Picture drawn = Pictures.Encode(_runs.Picture(id, picture, layer, head), picture, format);
        string query = string.Join("&", new[] { layer is int l ? string.Create(CultureInfo.InvariantCulture, $"layer={l}") : null, head is int h ? string.Create(CultureInfo.InvariantCulture, $"head={h}") : null }.OfType<string>());
        string uri = $"heed://runs/{id}/pictures/{drawn.Name}" + (query.Length == 0 ? "" : "?" + query);
        return new ToolAnswer<PictureInfo>(new PictureInfo(drawn.Name, drawn.Title, drawn.MediaType, PictureUri(uri, drawn)), [Block(drawn, uri)]);
    }

    /// <summary>Deletes a run.</summary>
    [McpServerTool(Name = "delete_run", Title = "Delete a run", ReadOnly = false, Idempotent = false, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Deletes a run and its weights, pictures and report.")]
    public Deleted DeleteRun([Description("The run id.")] string id)
    {
        _runs.Delete(id);
        return new Deleted($"run {id}");
    }

    /// <summary>Trains a small GPT-2 on a task, reporting every step, and returns the finished training's status with its pictures.</summary>
    [Computes]
    [McpServerTool(Name = "train", Title = "Train a small GPT-2 on a task", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("What 'heed train' does, bounded to minutes: trains a small GPT-2 (layers, heads, width, context) with AdamW on a task — seed (the seed's sentences), induction (sequences whose second half repeats the first: a head attending a fixed distance back solves it), induction-shifted (a block repeated at a distance that varies: only a content-matching induction head predicts it), or chars (character-level text given in text). Sends a progress notification per step (progress = step, total = steps, the loss in the message) when the call has a progress token; cancelling the call stops the training after its current step. Returns the status (every loss, the latest checkpoint's attention score and best head, and the trained model's id 'trained-<id>' for run_model and explain), then the loss curve and the best head's attention at the last checkpoint as PNG images. The same seed and fields give the same losses. Every field has a default.")]
    public async Task<ToolAnswer<TrainingStatus>> Train(RequestContext<CallToolRequestParams> context, TrainingRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Trained(await _trainings.RunToEndAsync(request, StepNotifier(context, cancellation), cancellation).ConfigureAwait(false));
    }

    /// <summary>Resumes a training from its checkpoint as a new training, reporting every step, and returns its final status with its pictures.</summary>
    [Computes]
    [McpServerTool(Name = "resume_training", Title = "Resume a training from its checkpoint", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Continues a cancelled or finished training (id from train or get_training) from its checkpoint as a new training with the same settings: its losses begin with the original's, and it ends exactly, bit for bit, where a training of steps steps from the start with the same seed would. steps is the step to stop at, counted from the original's first step (default the original's steps; a finished training needs more). Sends a progress notification per new step (progress = step, total = steps) when the call has a progress token; cancelling the call stops it after its current step. Returns the new training's status (resumedFrom names the original; its model is 'trained-<new id>'), then the loss curve and the best head's attention at the last checkpoint as PNG images. A training still running, or one without a checkpoint, is refused.")]
    public async Task<ToolAnswer<TrainingStatus>> ResumeTraining(RequestContext<CallToolRequestParams> context, [Description("The id of the training to continue.")] string id, TrainingResumeRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Trained(await _trainings.ResumeToEndAsync(id, request, StepNotifier(context, cancellation), cancellation).ConfigureAwait(false));
    }

    // One notification per step: the step strictly increases and the total is the step count.
    private static Func<TrainingEvent, Task> StepNotifier(RequestContext<CallToolRequestParams> context, CancellationToken cancellation)
    {
        ProgressToken? token = context.Params?.ProgressToken;
        return async e =>
        {
            if (token is ProgressToken t && e.Kind == "progress")
            {
                var value = new ProgressNotificationValue { Progress = e.Step, Total = e.Steps, Message = e.Message };
                await context.Server.SendNotificationAsync(NotificationMethods.ProgressNotification, new ProgressNotificationParams { ProgressToken = t, Progress = value }, cancellationToken: cancellation).ConfigureAwait(false);
            }
        };
    }

    // A finished training's status, then its loss curve and the best head's attention as PNG images.
    private ToolAnswer<TrainingStatus> Trained(TrainingStatus final)
    {
        if (final.State != RunState.Succeeded)
        {
            throw new HeedException($"training {final.Id} {final.State.ToString().ToLowerInvariant()}: {final.Error}");
        }

        ContentBlock[] pictures =
        [
            ImageContentBlock.FromBytes(Pictures.Png(_trainings.LossCurve(final.Id)), "image/png"),
            ImageContentBlock.FromBytes(Pictures.Png(_trainings.Attention(final.Id, null, null)), "image/png"),
        ];
        return new ToolAnswer<TrainingStatus>(final, pictures);
    }

    /// <summary>A training's status.</summary>
    [McpServerTool(Name = "get_training", Title = "Training status", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("A training's state, step, every loss so far, tokens per second, the latest checkpoint's attention score with its best head, and once finished its model id (the same object as GET /api/v1/trainings/{id}).")]
    public TrainingStatus GetTraining([Description("The training id.")] string id) => _trainings.Get(id);

    /// <summary>Cancels a training.</summary>
    [McpServerTool(Name = "cancel_training", Title = "Cancel a training", ReadOnly = false, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Asks a training to stop after its current step; it turns Cancelled, and its model (when a step was taken) stays usable until it expires. Returns its status.")]
    public TrainingStatus CancelTraining([Description("The training id.")] string id) => _trainings.Cancel(id);

    /// <summary>Lists the workspace.</summary>
    [McpServerTool(Name = "workspace_list", Title = "List workspace matrices", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Every named matrix in the workspace with its shape and metadata.")]
    public MatrixList WorkspaceList() => new(_workspace.List(), _workspace.Folder is not null);

    /// <summary>Creates a matrix.</summary>
    [McpServerTool(Name = "workspace_create", Title = "Create a workspace matrix", ReadOnly = false, Idempotent = false, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Creates a named matrix from values (one list per row) or from rows, columns and a fill value.")]
    public MatrixInfo WorkspaceCreate(MatrixCreateRequest request) => _workspace.Create(request);

    /// <summary>Reads a range.</summary>
    [McpServerTool(Name = "workspace_get", Title = "Read a range of a matrix", ReadOnly = true, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Reads rows [rowStart, rowStart+rowCount) and columns [columnStart, columnStart+columnCount) of a named matrix; omitted counts read to the end.")]
    public MatrixRange WorkspaceGet(
        [Description("The matrix name.")] string name,
        [Description("First row (default 0).")] int? rowStart = null,
        [Description("Row count (default to the end).")] int? rowCount = null,
        [Description("First column (default 0).")] int? columnStart = null,
        [Description("Column count (default to the end).")] int? columnCount = null) =>
        _workspace.Get(name, rowStart ?? 0, rowCount, columnStart ?? 0, columnCount);

    /// <summary>Writes a range.</summary>
    [McpServerTool(Name = "workspace_update", Title = "Write a range of a matrix", ReadOnly = false, Idempotent = true, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Overwrites a rectangle of a named matrix starting at (rowStart, columnStart) and merges metadata.")]
    public MatrixInfo WorkspaceUpdate([Description("The matrix name.")] string name, MatrixUpdateRequest request) => _workspace.Update(name, request);

    /// <summary>Deletes a matrix.</summary>
    [McpServerTool(Name = "workspace_delete", Title = "Delete a workspace matrix", ReadOnly = false, Idempotent = false, Destructive = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Deletes a named matrix (and its file when the workspace is persisted).")]
    public Deleted WorkspaceDelete([Description("The matrix name.")] string name)
    {
        _workspace.Delete(name);
        return new Deleted($"matrix {name}");
    }

    /// <summary>Analyses matrices; the chart follows the JSON as an image or an embedded SVG resource.</summary>
    [Computes]
    [McpServerTool(Name = "workspace_analyse", Title = "Analyse workspace matrices", ReadOnly = false, Idempotent = true, Destructive = false, OpenWorld = false, UseStructuredContent = true)]
    [Description("Runs attention (q, k, v) or explain (embeddings, wq, wk, wv) with named matrices as inputs; returns the weights, the output (optionally stored as outputName) and a heatmap chart of the weights, which follows the JSON as a PNG image or an embedded SVG resource (not kept on the server).")]
    public ToolAnswer<AnalyseResponse> WorkspaceAnalyse(AnalyseRequest request, CancellationToken cancellation = default)
    {
        AnalyseResponse response = _workspace.Analyse(request, cancellation);
        ContentBlock[] chart = response.Chart is Picture picture ? [Block(picture, "heed://analysis/heatmap")] : [];
        return new ToolAnswer<AnalyseResponse>(response with { Chart = null }, chart);
    }

    // A picture as MCP content: a PNG as an image block (its bytes never travel inside JSON text), an SVG, which is text
    // a model can read, as an embedded resource. The URI gets the format's extension before any query.
    private static ContentBlock Block(Picture picture, string uri) => picture.MediaType == "image/png"
        ? ImageContentBlock.FromBytes(Convert.FromBase64String(picture.Data), picture.MediaType)
        : new EmbeddedResourceBlock { Resource = new TextResourceContents { Uri = PictureUri(uri, picture), MimeType = picture.MediaType, Text = picture.Data } };

    private static string PictureUri(string uri, Picture picture)
    {
        string extension = picture.MediaType == "image/png" ? ".png" : ".svg";
        int query = uri.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? uri + extension : uri[..query] + extension + uri[query..];
    }
}
