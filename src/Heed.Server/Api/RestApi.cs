using System.Diagnostics;
using System.Net.ServerSentEvents;
using Heed.Explain.Pictures;
using Heed.Server.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server;

/// <summary>The server's self-description, at <c>GET /api/v1</c>.</summary>
/// <param name="Name">"heed".</param>
/// <param name="Version">The server's version.</param>
/// <param name="Description">What the server does.</param>
/// <param name="Links">Where the OpenAPI document, MCP endpoint, web page, health and capabilities are.</param>
/// <param name="Limits">The limits every request is held to.</param>
public sealed record ServerDescriptor(string Name, string Version, string Description, IReadOnlyDictionary<string, string> Links, ServerLimitsView Limits);

/// <summary>The limits, as clients see them.</summary>
/// <param name="MaxBodyBytes">Largest request body (413 above).</param>
/// <param name="MaxSequenceLength">Largest size of any axis but the last (T, S, rows).</param>
/// <param name="MaxWidth">Largest last axis (D, Dv, C, columns).</param>
/// <param name="MaxElements">Most elements in one tensor.</param>
/// <param name="MaxMatrices">Most matrices in the workspace.</param>
/// <param name="MaxRuns">Most runs kept.</param>
/// <param name="RequestTimeoutSeconds">Longest request, waiting for a slot included (503 after).</param>
/// <param name="MaxConcurrentRequests">Other requests running at once (workspace edits and ranges, pictures, reports, creating a run); cheap reads are never limited.</param>
/// <param name="QueueLimit">Other requests waiting (429 beyond).</param>
/// <param name="RunExpirySeconds">How long a run is kept.</param>
/// <param name="MaxConcurrentComputations">Computations running at once (attention, multi-head attention, explain, lookup, analyse, runs with wait, MCP calls).</param>
/// <param name="ComputationQueueLimit">Computations waiting (429 beyond; 503 when the time limit passes while waiting).</param>
/// <param name="MaxEmbedTexts">Most texts in one embedding request.</param>
/// <param name="MaxEmbedTokens">Most tokens in one embedding request, all texts together.</param>
/// <param name="MaxGenerateTokens">Most new tokens one generation may ask for.</param>
/// <param name="MaxTrainings">Most trainings kept (each holds a computation slot while it runs, and expires like a run).</param>
/// <param name="MaxTrainingSteps">The most steps a training may reach, a resumed one counted from its original's first step.</param>
/// <param name="MaxTrainingTextBytes">The most UTF-8 bytes of the text of a chars training.</param>
public sealed record ServerLimitsView(long MaxBodyBytes, int MaxSequenceLength, int MaxWidth, int MaxElements, int MaxMatrices, int MaxRuns, double RequestTimeoutSeconds, int MaxConcurrentRequests, int QueueLimit, double RunExpirySeconds, int MaxConcurrentComputations, int ComputationQueueLimit, int MaxEmbedTexts, int MaxEmbedTokens, int MaxGenerateTokens, int MaxTrainings, int MaxTrainingSteps, int MaxTrainingTextBytes)
{
    internal static ServerLimitsView From(ServerLimits l) =>
        new(l.MaxBodyBytes, l.MaxSequenceLength, l.MaxWidth, l.MaxElements, l.MaxMatrices, l.MaxRuns, l.RequestTimeout.TotalSeconds, l.MaxConcurrentRequests, l.QueueLimit, l.RunExpiry.TotalSeconds, l.MaxConcurrentComputations, l.ComputationQueueLimit, l.MaxEmbedTexts, l.MaxEmbedTokens, l.MaxGenerateTokens, l.MaxTrainings, TrainingService.MaxSteps, TrainingService.MaxTextBytes);
}

/// <summary>The health answer.</summary>
/// <param name="Status">"ok".</param>
/// <param name="Version">The server's version.</param>
public sealed record Health(string Status, string Version);

/// <summary>What this server can do.</summary>
/// <param name="Operations">Each capability with its REST path and MCP tool.</param>
/// <param name="Dtypes">Tensor element types accepted.</param>
/// <param name="Encodings">Tensor encodings accepted and produced.</param>
/// <param name="QkMatmulOutputModes">qk_matmul_output modes.</param>
/// <param name="SoftmaxPrecisions">softmax_precision values.</param>
/// <param name="RunnableModelFormats">Model formats runs accept.</param>
public sealed record Capabilities(IReadOnlyList<Operation> Operations, IReadOnlyList<string> Dtypes, IReadOnlyList<string> Encodings, IReadOnlyList<int> QkMatmulOutputModes, IReadOnlyList<string> SoftmaxPrecisions, IReadOnlyCollection<string> RunnableModelFormats);

/// <summary>One capability.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">The REST path.</param>
/// <param name="McpTool">The MCP tool doing the same.</param>
public sealed record Operation(string Name, string Method, string Path, string McpTool);

/// <summary>A list of models.</summary>
/// <param name="Models">The models.</param>
public sealed record ModelList(IReadOnlyList<ModelInfo> Models);

/// <summary>A list of runs.</summary>
/// <param name="Runs">The runs.</param>
public sealed record RunList(IReadOnlyList<RunStatus> Runs);

/// <summary>The workspace's matrices.</summary>
/// <param name="Matrices">Name, shape and metadata of each.</param>
/// <param name="Persisted">Whether changes are written to disk.</param>
public sealed record MatrixList(IReadOnlyList<MatrixInfo> Matrices, bool Persisted);

/// <summary>The REST API under <c>/api/v1</c>. Endpoints only translate HTTP to service calls.</summary>
internal static class RestApi
{
    public static readonly Operation[] Operations =
    [
        new("attention", "POST", "/api/v1/attention", "attention"),
        new("multi-head attention", "POST", "/api/v1/multi-head-attention", "multi_head_attention"),
        new("explain", "POST", "/api/v1/explain", "explain"),
        new("lookup", "POST", "/api/v1/lookup", "lookup"),
        new("embed texts with an encoder", "POST", "/api/v1/embed", "embed"),
        new("generate text (JSON, or SSE per token)", "POST", "/api/v1/generate", "generate"),
        new("list models", "GET", "/api/v1/models", "list_models"),
        new("model config", "GET", "/api/v1/models/{id}/config", "model_config"),
        new("run a model", "POST", "/api/v1/runs", "run_model"),
        new("run status", "GET", "/api/v1/runs/{id}", "get_run"),
        new("run progress (SSE)", "GET", "/api/v1/runs/{id}/events", "run_model (progress notifications)"),
        new("attention weights of a head", "GET", "/api/v1/runs/{id}/layers/{layer}/heads/{head}", "get_attention_weights"),
        new("one head walked through for a token: Q, K, V, scores, weights, steps", "GET", "/api/v1/runs/{id}/layers/{layer}/heads/{head}/explain", "explain_run_head"),
        new("heatmap of a head (SVG, PNG)", "GET", "/api/v1/runs/{id}/layers/{layer}/heads/{head}/svg", "get_run_picture"),
        new("picture of a run: heatmap, model-view, head-view, network, rollout (SVG, PNG)", "GET", "/api/v1/runs/{id}/pictures/{name}.{format}", "get_run_picture"),
        new("run report", "GET", "/api/v1/runs/{id}/report", "get_run_report"),
        new("run report as a self-contained HTML page", "GET", "/api/v1/runs/{id}/report.html", "resource heed://runs/{id}/report.html"),
        new("cancel a run", "POST", "/api/v1/runs/{id}/cancel", "cancel_run"),
        new("delete a run", "DELETE", "/api/v1/runs/{id}", "delete_run"),
        new("train a small GPT-2 on a task (seed, induction, chars)", "POST", "/api/v1/trainings", "train"),
        new("training status and losses", "GET", "/api/v1/trainings/{id}", "get_training"),
        new("training progress and checkpoints (SSE)", "GET", "/api/v1/trainings/{id}/events", "train (progress notifications)"),
        new("loss curve of a training (SVG, PNG)", "GET", "/api/v1/trainings/{id}/loss.{format}", "get_training (loss picture)"),
        new("attention of a head at a training's latest checkpoint (SVG, PNG)", "GET", "/api/v1/trainings/{id}/attention.{format}", "get_training (attention picture)"),
        new("cancel a training", "POST", "/api/v1/trainings/{id}/cancel", "cancel_training"),
        new("resume a cancelled or finished training from its checkpoint, as a new training", "POST", "/api/v1/trainings/{id}/resume", "resume_training"),
        new("delete a training and its model", "DELETE", "/api/v1/trainings/{id}", "cancel_training, then expiry"),
        new("list matrices", "GET", "/api/v1/workspace/matrices", "workspace_list"),
        new("create a matrix", "POST", "/api/v1/workspace/matrices", "workspace_create"),
        new("read a range", "GET", "/api/v1/workspace/matrices/{name}", "workspace_get"),
        new("update a range", "PATCH", "/api/v1/workspace/matrices/{name}", "workspace_update"),
        new("delete a matrix", "DELETE", "/api/v1/workspace/matrices/{name}", "workspace_delete"),
        new("analyse matrices", "POST", "/api/v1/workspace/analyse", "workspace_analyse"),
    ];

    public static void Map(WebApplication app)
    {
        RouteGroupBuilder api = app.MapGroup("/api/v1");
        api.ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status408RequestTimeout)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .ProducesProblem(StatusCodes.Status500InternalServerError);

        api.MapGet("/", (ServerLimits limits) => TypedResults.Ok(new ServerDescriptor(
                "heed",
                HeedServer.Version,
                "Exact, explainable attention for programs and agents: the attention operator, multi-head attention, step-by-step explanations, lookups, model runs and a workspace of named matrices.",
                new Dictionary<string, string>
                {
                    ["openapi"] = "/openapi/v1.json",
                    ["mcp"] = "/mcp",
                    ["web"] = "/",
                    ["health"] = "/api/v1/health",
                    ["capabilities"] = "/api/v1/capabilities",
                },
                ServerLimitsView.From(limits))))
            .WithName("describe").WithSummary("What this server is and where everything is");
        api.MapGet("/health", () => TypedResults.Ok(new Health("ok", HeedServer.Version)))
            .WithName("health").WithSummary("Liveness; needs no token");
        api.MapGet("/capabilities", (RunService runs) => TypedResults.Ok(new Capabilities(
                Operations,
                ["float32", "float16", "bfloat16", "float64", "bool", "int64"],
                ["Json", "Npy"],
                [0, 1, 2, 3],
                ["float", "float16", "double", "bfloat16"],
                runs.Formats)))
            .WithName("capabilities").WithSummary("Every operation with its REST path and MCP tool, and the accepted types");

        api.MapPost("/attention", async (AttentionRequest request, AttentionService service, HttpContext context) =>
                TypedResults.Ok(await Offload(c => service.Compute(request, c), context).ConfigureAwait(false)))
            .WithName("attention").WithSummary("The ONNX Attention operator (opsets 23-25): Y = softmax(scale·Q·Kᵀ + mask)·V").ProducesProblem(400).ProducesProblem(413);
        api.MapPost("/multi-head-attention", async (MultiHeadAttentionRequest request, MultiHeadAttentionService service, HttpContext context) =>
                TypedResults.Ok(await Offload(c => service.Forward(request, c), context).ConfigureAwait(false)))
            .WithName("multiHeadAttention").WithSummary("A multi-head attention layer: projections, H heads, output projection").ProducesProblem(400).ProducesProblem(413);
        api.MapPost("/explain", async (ExplainRequest request, ExplainService service, HttpContext context) =>
                TypedResults.Ok(await Offload(c => service.Explain(request, c), context).ConfigureAwait(false)))
            .WithName("explain").WithSummary("Every step of single-head attention on your tokens, embeddings and W_Q/W_K/W_V (the input of 'heed explain'), or on given weights; reference comparison, pictures and the HTML report on request; an empty body walks through the seed example").ProducesProblem(400).ProducesProblem(413);
        api.MapPost("/lookup", async (LookupRequest request, LookupService service, HttpContext context) =>
                TypedResults.Ok(await Offload(c => service.Lookup(request, c), context).ConfigureAwait(false)))
            .WithName("lookup").WithSummary("A soft key-value lookup: scores, softmax weights and the blended value").ProducesProblem(400).ProducesProblem(404).ProducesProblem(413);

        api.MapPost("/embed", async (EmbedRequest request, EmbeddingService service, HttpContext context) =>
                TypedResults.Ok(await Offload(c => service.Embed(request, c), context).ConfigureAwait(false)))
            .WithName("embed").WithSummary("Sentence embeddings of texts from an encoder, the fields of 'heed embed': the tokens and one vector per text (pooling mean or cls), or each text's last hidden state (pooling none)").ProducesProblem(400).ProducesProblem(404).ProducesProblem(413);
        api.MapPost("/generate", async Task<IResult> (GenerateRequest request, GenerationService service, HttpContext context) =>
            {
                if (!request.Stream)
                {
                    return TypedResults.Ok(await Offload(c => service.Generate(request, c), context).ConfigureAwait(false));
                }

                // The prompt's pass and the first token come before the answer, so a prompt that does not fit is a problem, not a
                // broken stream; then the stream runs to its end (bounded by maxTokens) unless the client goes away, which stops it.
                IAsyncEnumerator<GenerateEvent> events = service.StreamAsync(request, context.RequestAborted).GetAsyncEnumerator(context.RequestAborted);
                bool first = await Offload(_ => events.MoveNextAsync().AsTask().GetAwaiter().GetResult(), context).ConfigureAwait(false);
                return TypedResults.ServerSentEvents(Tokens(events, first));
            })
            .WithName("generate").WithSummary("Generates text with a decoder from a prompt or chat messages: one JSON document, or with stream: true Server-Sent Events, a 'token' event per new token and a 'done' event with the result; the client going away stops generation")
            .Produces<GenerateResponse>(200, "application/json").WithMetadata(new AlsoEventStream(typeof(GenerateEvent))).ProducesProblem(400).ProducesProblem(404).ProducesProblem(413);

        api.MapGet("/models", (ModelCatalog models) => TypedResults.Ok(new ModelList(models.List())))
            .WithName("listModels").WithSummary("The models, by id (built-ins and the models folder)");
        api.MapGet("/models/{id}", (string id, ModelCatalog models) => TypedResults.Ok(models.Get(id)))
            .WithName("getModel").WithSummary("One model").ProducesProblem(400).ProducesProblem(404);
        api.MapGet("/models/{id}/config", (string id, ModelCatalog models) => TypedResults.Ok(models.Config(id)))
            .WithName("getModelConfig").WithSummary("A model's configuration").Produces<ModelConfiguration>(200, "application/json").ProducesProblem(400).ProducesProblem(404);

        api.MapPost("/runs", async Task<Results<Accepted<RunStatus>, Ok<RunReport>, EmptyHttpResult>> (RunRequest request, RunService runs, Admission admission, HttpContext context) =>
            {
                if (!request.Wait)
                {
                    RunStatus status = runs.Create(request);
                    return TypedResults.Accepted($"/api/v1/runs/{status.Id}", status);
                }

                // A run with wait is a computation: it waits for a slot like the others (429 written when the queue is full).
                using System.Threading.RateLimiting.RateLimitLease? lease = await admission.EnterComputationAsync(context).ConfigureAwait(false);
                if (lease is null)
                {
                    return TypedResults.Empty;
                }

                RunStatus final = await runs.RunToEndAsync(request, null, context.RequestAborted).ConfigureAwait(false);
                return TypedResults.Ok(runs.Report(final.Id));
            })
            .WithName("createRun").WithSummary("Runs a model on a prompt in the background (202; follow /events), or with wait: true answers with the report when done").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(413);
        api.MapGet("/runs", (RunService runs) => TypedResults.Ok(new RunList(runs.List())))
            .WithName("listRuns").WithSummary("Every run kept");
        api.MapGet("/runs/{id}", (string id, RunService runs) => TypedResults.Ok(runs.Get(id)))
            .WithName("getRun").WithSummary("A run's status").ProducesProblem(404);
        api.MapGet("/runs/{id}/events", (string id, RunService runs, HttpContext context) =>
            {
                runs.Get(id);
                return TypedResults.ServerSentEvents(Events(runs.EventsAsync(id, context.RequestAborted)));
            })
            .WithName("runEvents").WithSummary("Server-Sent Events: one 'progress' event per step, then 'succeeded', 'failed' or 'cancelled'")
            .Produces<RunEvent>(200, "text/event-stream").ProducesProblem(404).DisableRequestTimeout();
        api.MapGet("/runs/{id}/layers/{layer:int}/heads/{head:int}", (string id, int layer, int head, RunService runs) => TypedResults.Ok(runs.Weights(id, layer, head)))
            .WithName("getAttentionWeights").WithSummary("One head's attention weights [T, T]").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/layers/{layer:int}/heads/{head:int}/explain", (string id, int layer, int head, int? position, RunService runs) => TypedResults.Ok(runs.ExplainHead(id, layer, head, position)))
            .WithName("explainRunHead").WithSummary("One head of a finished run walked through for the query token at position (default the run's focus): its Q, K, V, scores, softmax weights, outputs and the steps, from what the run recorded").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/layers/{layer:int}/heads/{head:int}/svg", (string id, int layer, int head, RunService runs) => Picture(runs.Picture(id, PictureKind.Heatmap, layer, head), PictureFormat.Svg))
            .WithName("getAttentionSvg").WithSummary("One head's heatmap, SVG").Produces<string>(200, "image/svg+xml").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/layers/{layer:int}/heads/{head:int}/png", (string id, int layer, int head, RunService runs) => Picture(runs.Picture(id, PictureKind.Heatmap, layer, head), PictureFormat.Png))
            .WithName("getAttentionPng").WithSummary("One head's heatmap, PNG").Produces<byte[]>(200, "image/png").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/pictures/{name}.{format}", (string id, string name, string format, int? layer, int? head, RunService runs) =>
                Picture(runs.Picture(id, Pictures.Parse(name), layer, head), Pictures.ParseFormat(format)))
            .WithName("getRunPicture").WithSummary("A picture of a run: heatmap, model-view, head-view, network or rollout, as svg or png (layer and head default to 0; the head view shows every head unless head is given)")
            .Produces<byte[]>(200, "image/png", "image/svg+xml").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/report", (string id, bool? allLayers, RunService runs) => TypedResults.Ok(runs.Report(id, allLayers)))
            .WithName("getRunReport").WithSummary("What the run found, every head's strongest links, picture links (allLayers=true: the heatmap, head view and network of every layer), and the step-by-step walk-through").ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/runs/{id}/report.html", (string id, bool? allLayers, RunService runs) => TypedResults.Text(runs.ReportHtml(id, allLayers), "text/html; charset=utf-8"))
            .WithName("getRunReportHtml").WithSummary("The run's report as one self-contained HTML page: every picture (allLayers=true: every layer's heatmap, head view and network) and the walk-through").Produces<string>(200, "text/html").ProducesProblem(404).ProducesProblem(409);
        api.MapPost("/runs/{id}/cancel", (string id, RunService runs) => TypedResults.Accepted($"/api/v1/runs/{id}", runs.Cancel(id)))
            .WithName("cancelRun").WithSummary("Asks a queued or running run to stop; its state turns Cancelled at its next step").ProducesProblem(404);
        api.MapDelete("/runs/{id}", (string id, RunService runs) =>
            {
                runs.Delete(id);
                return TypedResults.NoContent();
            })
            .WithName("deleteRun").WithSummary("Deletes a run and everything it produced").ProducesProblem(404);

        MapTrainings(api);

        RouteGroupBuilder workspace = api.MapGroup("/workspace");
        workspace.MapGet("/matrices", (Workspace ws) => TypedResults.Ok(new MatrixList(ws.List(), ws.Folder is not null)))
            .WithName("listMatrices").WithSummary("Every named matrix with its shape and metadata");
        workspace.MapPost("/matrices", (MatrixCreateRequest request, Workspace ws) =>
            {
                MatrixInfo info = ws.Create(request);
                return TypedResults.Created($"/api/v1/workspace/matrices/{info.Name}", info);
            })
            .WithName("createMatrix").WithSummary("Creates a named matrix").ProducesProblem(400).ProducesProblem(409).ProducesProblem(413);
        workspace.MapGet("/matrices/{name}", (string name, Workspace ws, int? rowStart, int? rowCount, int? columnStart, int? columnCount) =>
                TypedResults.Ok(ws.Get(name, rowStart ?? 0, rowCount, columnStart ?? 0, columnCount)))
            .WithName("getMatrixRange").WithSummary("Reads a range of rows and columns (the whole matrix by default)").ProducesProblem(400).ProducesProblem(404);
        workspace.MapPatch("/matrices/{name}", (string name, MatrixUpdateRequest request, Workspace ws) => TypedResults.Ok(ws.Update(name, request)))
            .WithName("updateMatrixRange").WithSummary("Writes a range of values and merges metadata").ProducesProblem(400).ProducesProblem(404).ProducesProblem(413);
        workspace.MapDelete("/matrices/{name}", (string name, Workspace ws) =>
            {
                ws.Delete(name);
                return TypedResults.NoContent();
            })
            .WithName("deleteMatrix").WithSummary("Deletes a named matrix").ProducesProblem(404);
        workspace.MapPost("/analyse", async (AnalyseRequest request, Workspace ws, HttpContext context) =>
                TypedResults.Ok(await Offload(c => ws.Analyse(request, c), context).ConfigureAwait(false)))
            .WithName("analyse").WithSummary("Runs attention or explain on named matrices; returns weights, output and a chart").ProducesProblem(400).ProducesProblem(404).ProducesProblem(413);
    }

    private static void MapTrainings(RouteGroupBuilder api)
    {
        api.MapPost("/trainings", async Task<Results<Accepted<TrainingStatus>, EmptyHttpResult>> (TrainingRequest request, TrainingService trainings, Admission admission, HttpContext context) =>
            {
                TrainingSettings settings = trainings.Prepare(request);

                // A training computes for its whole duration: it takes a computation slot now (waiting like the others; 429
                // written when the queue is full, 503 when the time limit passes) and gives it back when it ends.
                System.Threading.RateLimiting.RateLimitLease? lease = await admission.EnterComputationAsync(context).ConfigureAwait(false);
                if (lease is null)
                {
                    return TypedResults.Empty;
                }

                TrainingStatus status = trainings.Start(request, settings, lease);
                return TypedResults.Accepted($"/api/v1/trainings/{status.Id}", status);
            })
            .WithName("createTraining").WithSummary("Trains a small GPT-2 on a task (the fields of 'heed train', bounded to minutes) in the background, holding a computation slot while it runs: 202 with its status; follow /events, then use its model 'trained-<id>'").ProducesProblem(400).ProducesProblem(413);
        api.MapGet("/trainings", (TrainingService trainings) => TypedResults.Ok(new TrainingList(trainings.List())))
            .WithName("listTrainings").WithSummary("Every training kept");
        api.MapGet("/trainings/{id}", (string id, TrainingService trainings) => TypedResults.Ok(trainings.Get(id)))
            .WithName("getTraining").WithSummary("A training's state, step, every loss so far, tokens/s, latest checkpoint's score and, once finished, its model id").ProducesProblem(404);
        api.MapGet("/trainings/{id}/events", (string id, TrainingService trainings, HttpContext context) =>
            {
                trainings.Get(id);
                return TypedResults.ServerSentEvents(TrainingEvents(trainings.EventsAsync(id, context.RequestAborted)));
            })
            .WithName("trainingEvents").WithSummary("Server-Sent Events from the first: 'queued', 'started', one 'progress' per step (step, loss), a 'checkpoint' every checkpointEvery steps, then 'succeeded', 'failed' or 'cancelled'")
            .Produces<TrainingEvent>(200, "text/event-stream").ProducesProblem(404).DisableRequestTimeout();
        api.MapGet("/trainings/{id}/loss.{format}", (string id, string format, TrainingService trainings) => Picture(trainings.LossCurve(id), Pictures.ParseFormat(format)))
            .WithName("getTrainingLoss").WithSummary("The loss curve so far, as svg or png")
            .Produces<byte[]>(200, "image/png", "image/svg+xml").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/trainings/{id}/attention.{format}", (string id, string format, int? layer, int? head, TrainingService trainings) => Picture(trainings.Attention(id, layer, head), Pictures.ParseFormat(format)))
            .WithName("getTrainingAttention").WithSummary("One head's attention on the task's probe sequence at the latest checkpoint, as svg or png (default: the task's best head, else the last layer's head 0)")
            .Produces<byte[]>(200, "image/png", "image/svg+xml").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapPost("/trainings/{id}/cancel", (string id, TrainingService trainings) => TypedResults.Accepted($"/api/v1/trainings/{id}", trainings.Cancel(id)))
            .WithName("cancelTraining").WithSummary("Asks a training to stop after its current step; it turns Cancelled, and its model (if a step was taken) is still registered").ProducesProblem(404);
        api.MapPost("/trainings/{id}/resume", async Task<Results<Accepted<TrainingStatus>, EmptyHttpResult>> (string id, TrainingResumeRequest? request, TrainingService trainings, Admission admission, HttpContext context) =>
            {
                TrainingSettings settings = trainings.PrepareResume(id, request ?? new TrainingResumeRequest());

                // The resumed training computes like a new one: a computation slot, held until it ends.
                System.Threading.RateLimiting.RateLimitLease? lease = await admission.EnterComputationAsync(context).ConfigureAwait(false);
                if (lease is null)
                {
                    return TypedResults.Empty;
                }

                TrainingStatus status = trainings.StartResume(id, settings, lease);
                return TypedResults.Accepted($"/api/v1/trainings/{status.Id}", status);
            })
            .WithName("resumeTraining").WithSummary("Continues a cancelled or finished training from its checkpoint as a new training (the body is optional): 202 with the new training's status, whose losses begin with the original's and whose resumedFrom names it; it ends exactly where a training of steps steps from the start would, and is followed, cancelled and deleted like any other. 409 while the original runs or when it has no checkpoint")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(413);
        api.MapDelete("/trainings/{id}", (string id, TrainingService trainings) =>
            {
                trainings.Delete(id);
                return TypedResults.NoContent();
            })
            .WithName("deleteTraining").WithSummary("Deletes a training and its model (stopping it if it runs)").ProducesProblem(404);
    }

    private static async IAsyncEnumerable<SseItem<TrainingEvent>> TrainingEvents(IAsyncEnumerable<TrainingEvent> events)
    {
        await foreach (TrainingEvent e in events.ConfigureAwait(false))
        {
            yield return new SseItem<TrainingEvent>(e, e.Kind) { EventId = e.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }
    }

    /// <summary>
    /// Runs a computation on the thread pool with the request's token, which fires when the request times out or is
    /// aborted: the answer goes out at once and the computation stops at its next check.
    /// </summary>
    private static async Task<T> Offload<T>(Func<CancellationToken, T> work, HttpContext context)
    {
        CancellationToken cancellation = context.RequestAborted;
        long started = Admission.Started(context); // the wait for a slot counts against the limit too
        T result = await Task.Run(() => work(cancellation), cancellation).WaitAsync(cancellation).ConfigureAwait(false);

        // The answer is ready: from here the time limit must not cut its write short (a write cancelled after the headers went
        // out resets the connection instead of answering). Timed out just before this line: the 503 is still written.
        IHttpRequestTimeoutFeature? timeout = context.Features.Get<IHttpRequestTimeoutFeature>();
        timeout?.DisableTimeout();
        cancellation.ThrowIfCancellationRequested();

        // The limit's timer can fire late (in test runs it sometimes had not fired when a computation of a second ended): a
        // request whose wait and computation took longer than the limit is answered with the same 503, never with a late 200.
        TimeSpan limit = context.RequestServices.GetRequiredService<ServerLimits>().RequestTimeout;
        if (timeout is not null && Stopwatch.GetElapsedTime(started) > limit)
        {
            throw new RequestTimedOutException(limit);
        }

        return result;
    }

    private static IResult Picture(Scene scene, PictureFormat format) => format == PictureFormat.Png
        ? TypedResults.File(Pictures.Png(scene), "image/png")
        : TypedResults.Text(Pictures.Svg(scene), "image/svg+xml");

    private static async IAsyncEnumerable<SseItem<GenerateEvent>> Tokens(IAsyncEnumerator<GenerateEvent> events, bool any)
    {
        await using (events.ConfigureAwait(false))
        {
            for (bool more = any; more; more = await events.MoveNextAsync().ConfigureAwait(false))
            {
                yield return new SseItem<GenerateEvent>(events.Current, events.Current.Result is null ? "token" : "done");
            }
        }
    }

    private static async IAsyncEnumerable<SseItem<RunEvent>> Events(IAsyncEnumerable<RunEvent> events)
    {
        await foreach (RunEvent e in events.ConfigureAwait(false))
        {
            string type = e.State switch
            {
                RunState.Succeeded => "succeeded",
                RunState.Failed => "failed",
                RunState.Cancelled => "cancelled",
                _ => "progress",
            };
            yield return new SseItem<RunEvent>(e, type) { EventId = e.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }
    }
}
