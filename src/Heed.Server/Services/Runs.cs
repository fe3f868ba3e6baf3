using System.Collections.Concurrent;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Heed.Explain;
using Heed.Explain.Pictures;

namespace Heed.Server.Services;

/// <summary>The state of a run.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunState>))]
public enum RunState
{
    /// <summary>Waiting to start.</summary>
    Queued,

    /// <summary>Running.</summary>
    Running,

    /// <summary>Finished; weights, pictures and report are available.</summary>
    Succeeded,

    /// <summary>Stopped with an error (see <see cref="RunStatus.Error"/>).</summary>
    Failed,

    /// <summary>Stopped on request (cancel, delete, or the waiting request timed out or went away).</summary>
    Cancelled,
}

/// <summary>A request to run a model on a prompt.</summary>
public sealed record RunRequest
{
    /// <summary>The model id (see <c>GET /api/v1/models</c>).</summary>
    [Description("The model id (GET /api/v1/models); default the built-in seed-cat-sat.")]
    public string? Model { get; init; }

    /// <summary>The text to run.</summary>
    [Description("The text to run the model on, e.g. \"The cat sat on the mat\".")]
    [Required]
    public string? Prompt { get; init; }

    /// <summary>The token the report walks through; default the second token (or the first).</summary>
    [Description("The token the report walks through step by step; default the second token, or the first.")]
    public string? Focus { get; init; }

    /// <summary>Answer when the run has finished, with its report, instead of at once; if the request times out or is dropped, the run is cancelled.</summary>
    [Description("Wait for the run and answer with its report (200) instead of its status (202); if the request times out (503) or the client goes away, the run is cancelled.")]
    public bool Wait { get; init; }

    /// <summary>Draw the report's heatmap, head view and network for every layer, not only layer 0 (the report's default; a report query can override it).</summary>
    [Description("Make the run's report cover every layer: a heatmap, head view and network per layer (default: layer 0 only; the model view and rollout always cover every layer). GET .../report?allLayers= overrides it.")]
    public bool AllLayers { get; init; }
}

/// <summary>One progress event of a run.</summary>
/// <param name="Sequence">0, 1, 2, … in order.</param>
/// <param name="State">The run's state after this event.</param>
/// <param name="Done">Steps done.</param>
/// <param name="Total">Steps in all.</param>
/// <param name="Message">What happened.</param>
public sealed record RunEvent(int Sequence, RunState State, int Done, int Total, string Message);

/// <summary>A run's status.</summary>
/// <param name="Id">The run id.</param>
/// <param name="Model">The model id.</param>
/// <param name="Prompt">The prompt.</param>
/// <param name="State">Queued, Running, Succeeded, Failed or Cancelled.</param>
/// <param name="Done">Steps done.</param>
/// <param name="Total">Steps in all (0 until known).</param>
/// <param name="Error">The error, when failed or cancelled.</param>
/// <param name="Tokens">The tokens, once known.</param>
/// <param name="NumHeads">Heads per layer, once known.</param>
/// <param name="Created">When the run was created.</param>
/// <param name="ExpiresAt">When the run and everything it produced is deleted.</param>
public sealed record RunStatus(string Id, string Model, string Prompt, RunState State, int Done, int Total, string? Error, IReadOnlyList<string>? Tokens, IReadOnlyList<int>? NumHeads, DateTimeOffset Created, DateTimeOffset ExpiresAt);

/// <summary>One head's attention weights.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Head">The head.</param>
/// <param name="Tokens">Row and column labels.</param>
/// <param name="Weights">[T, T], row i = how token i spreads its attention.</param>
public sealed record HeadWeights(int Layer, int Head, IReadOnlyList<string> Tokens, double[][] Weights);

/// <summary>The strongest link of one token in one head.</summary>
/// <param name="From">The attending token.</param>
/// <param name="To">The token it attends to most.</param>
/// <param name="Weight">The weight.</param>
public sealed record StrongestLink(string From, string To, double Weight);

/// <summary>A summary of one head.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Head">The head.</param>
/// <param name="Strongest">Each token's strongest link.</param>
/// <param name="Svg">The path of its SVG heatmap.</param>
/// <param name="Png">The path of its PNG heatmap.</param>
public sealed record HeadSummary(int Layer, int Head, IReadOnlyList<StrongestLink> Strongest, string Svg, string Png);

/// <summary>
/// The report of a finished run: what ran, every head's summary, the pictures (the heatmap, head view and network of
/// layer 0, or of every layer when asked for), and the walk-through of layer 0, head 0.
/// </summary>
/// <param name="Status">The run's status.</param>
/// <param name="Summary">A few sentences in plain words.</param>
/// <param name="Notes">Facts the reader should know.</param>
/// <param name="Heads">Every head's summary and heatmap links.</param>
/// <param name="Pictures">
/// Every picture kind (model view, head view, heatmap, network, rollout), SVG and PNG; with every layer, the per-layer
/// pictures are named "heatmap-layerN", "head-view-layerN" and "network-layerN".
/// </param>
/// <param name="Html">The path of the self-contained HTML report (with the same layers).</param>
/// <param name="Explanation">Layer 0, head 0, walked through for the focus token.</param>
public sealed record RunReport(RunStatus Status, IReadOnlyList<string> Summary, IReadOnlyList<string> Notes, IReadOnlyList<HeadSummary> Heads, IReadOnlyList<PictureLink> Pictures, string Html, ExplainResponse Explanation);

/// <summary>
/// Runs of models on prompts: created, run in the background with progress events, queried for weights, pictures and a
/// report, cancelled, deleted, and deleted on their own once <see cref="ServerLimits.RunExpiry"/> has passed.
/// </summary>
public sealed class RunService : IDisposable
{
    private readonly ConcurrentDictionary<string, Run> _runs = new(StringComparer.Ordinal);
    private readonly ModelCatalog _models;
    private readonly IReadOnlyDictionary<string, IModelRunner> _runners;
    private readonly ServerLimits _limits;
    private readonly TimeProvider _time;
    private readonly Timer _sweeper;

    /// <summary>Creates the service with the runners for each format (a later runner of a format replaces an earlier one).</summary>
    public RunService(ModelCatalog models, IEnumerable<IModelRunner> runners, ServerLimits limits, TimeProvider time)
    {
        _models = models;
        _runners = runners.GroupBy(r => r.Format, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _limits = limits;
        _time = time;
        TimeSpan period = limits.RunExpiry < TimeSpan.FromSeconds(30) ? limits.RunExpiry : TimeSpan.FromSeconds(30);
        _sweeper = new Timer(_ => Sweep(), null, period, period);
    }

    /// <summary>The formats that can be run.</summary>
    public IReadOnlyCollection<string> Formats => _runners.Keys.ToArray();

    /// <summary>Starts a run in the background and returns its status at once.</summary>
    /// <exception cref="HeedException">The model is unknown or cannot be run, the prompt is missing or too long, or too many runs exist.</exception>
    public RunStatus Create(RunRequest request)
    {
        (string modelId, string prompt, IModelRunner runner) = Prepare(request);
        if (_runs.Count >= _limits.MaxRuns)
        {
            throw new HeedException($"runs: {_runs.Count} runs are kept, the server's limit; delete some or wait for them to expire");
        }

        DateTimeOffset now = _time.GetUtcNow();
        var run = new Run(NewId(), modelId, prompt, request.Focus, now, now + _limits.RunExpiry) { AllLayers = request.AllLayers };
        _runs[run.Id] = run;
        run.Worker = Task.Run(() => Execute(run, runner));
        return run.Status();
    }

    /// <summary>Runs the model on the prompt here and now, keeping nothing (what <c>POST /api/v1/explain</c> with a model does).</summary>
    /// <exception cref="HeedException">As <see cref="Create"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public RunCapture Capture(RunRequest request, CancellationToken cancellation)
    {
        (string modelId, string prompt, IModelRunner runner) = Prepare(request);
        cancellation.ThrowIfCancellationRequested();
        return runner.Run(modelId, prompt, (_, _, _) => { }, cancellation);
    }

    // The model, the prompt and the runner of a request, checked before any work.
    private (string Model, string Prompt, IModelRunner Runner) Prepare(RunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Sweep();
        string modelId = request.Model ?? ModelCatalog.SeedModelId;
        ModelInfo model = _models.Get(modelId);
        if (!_runners.TryGetValue(model.Format, out IModelRunner? runner))
        {
            throw new HeedException($"model '{modelId}': format {model.Format} cannot be run by this build (runnable formats: {string.Join(", ", _runners.Keys)})");
        }

        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            throw new HeedException("prompt: required, the text to run the model on");
        }

        if (request.Prompt.Length > _limits.MaxSequenceLength * 32)
        {
            throw new HeedException($"prompt: {request.Prompt.Length} characters; the server's limit is {_limits.MaxSequenceLength * 32}");
        }

        runner.Check(modelId, request.Prompt);
        return (modelId, request.Prompt, runner);
    }

    /// <summary>
    /// Starts a run and follows it to the end, passing each event to <paramref name="onEvent"/>; returns the final status.
    /// When <paramref name="cancellation"/> fires (the caller timed out or went away), the run is cancelled too.
    /// </summary>
    /// <exception cref="HeedException">As <see cref="Create"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired; the run was cancelled.</exception>
    public async Task<RunStatus> RunToEndAsync(RunRequest request, Func<RunEvent, Task>? onEvent, CancellationToken cancellation)
    {
        RunStatus created = Create(request);
        try
        {
            await foreach (RunEvent e in EventsAsync(created.Id, cancellation).ConfigureAwait(false))
            {
                if (onEvent is not null)
                {
                    await onEvent(e).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            if (_runs.TryGetValue(created.Id, out Run? run))
            {
                run.Cancellation.Cancel();
            }

            throw;
        }

        return Get(created.Id);
    }

    /// <summary>Waits until the run finishes, reporting each event; returns the final status. Stopping the wait leaves the run running.</summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    public async Task<RunStatus> WaitAsync(string id, Action<RunEvent>? onEvent, CancellationToken cancellation)
    {
        await foreach (RunEvent e in EventsAsync(id, cancellation).ConfigureAwait(false))
        {
            onEvent?.Invoke(e);
        }

        return Get(id);
    }

    /// <summary>Every run's status, newest first.</summary>
    public IReadOnlyList<RunStatus> List()
    {
        Sweep();
        return _runs.Values.OrderByDescending(r => r.Created).Select(r => r.Status()).ToArray();
    }

    /// <summary>A run's status.</summary>
    /// <exception cref="HeedNotFoundException">No such run, or it expired.</exception>
    public RunStatus Get(string id) => Find(id).Status();

    /// <summary>Asks a queued or running run to stop; it turns <see cref="RunState.Cancelled"/> at its next check. A finished run is left as it is.</summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    public RunStatus Cancel(string id)
    {
        Run run = Find(id);
        run.Cancellation.Cancel();
        return run.Status();
    }

    /// <summary>The run's events from the first, then each new one as it happens, until the run finishes.</summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    public async IAsyncEnumerable<RunEvent> EventsAsync(string id, [EnumeratorCancellation] CancellationToken cancellation)
    {
        Run run = Find(id);
        int next = 0;
        while (true)
        {
            (RunEvent[] pending, Task changed, bool finished) = run.Since(next);
            foreach (RunEvent e in pending)
            {
                yield return e;
            }

            next += pending.Length;
            if (finished && pending.Length == 0)
            {
                yield break;
            }

            if (!finished)
            {
                await changed.WaitAsync(cancellation).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One head's attention weights.</summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    /// <exception cref="HeedException">The run has not succeeded, or the layer or head is out of range.</exception>
    public HeadWeights Weights(string id, int layer, int head)
    {
        AttentionSet set = Captured(Find(id)).Set;
        CheckHead(set, layer, head);
        return new HeadWeights(layer, head, set.KeyTokens, Rows(set, layer, head));
    }

    /// <summary>
    /// One head of a finished run walked through for the query token at <paramref name="position"/> (default: the run's
    /// focus, as in the report): the head's Q [T, D], K [S, D], V [S, Dv], scores [T, S], weights [T, S], outputs [T, Dv]
    /// and the steps. Read from what the run recorded; nothing is run again.
    /// </summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    /// <exception cref="HeedException">The run has not succeeded, or the layer, head or position is out of range.</exception>
    public ExplainResponse ExplainHead(string id, int layer, int head, int? position)
    {
        Run run = Find(id);
        RunCapture capture = Captured(run);
        AttentionSet set = capture.Set;
        CheckHead(set, layer, head);
        int offset = set.KeyLength - set.QueryLength;
        if (position is int p && (p < offset || p >= set.KeyLength))
        {
            throw new HeedException($"position: {p}; expected {offset}..{set.KeyLength - 1} (a query token's position)");
        }

        string? focus = position is int at ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"#{at}") : run.Focus;
        return capture.Explain(layer, head, focus, false, CancellationToken.None) with { Layers = set.Layers, Heads = set.Heads };
    }

    /// <summary>
    /// One picture of a finished run: the heatmap or network of (<paramref name="layer"/>, <paramref name="head"/>), the head
    /// view of a layer (every head unless <paramref name="head"/> is given), the model view, or the rollout.
    /// </summary>
    /// <exception cref="HeedException">The run has not succeeded, or the layer or head is out of range.</exception>
    public Scene Picture(string id, PictureKind kind, int? layer, int? head)
    {
        return Pictures.Draw(Captured(Find(id)).Set, kind, layer ?? 0, head);
    }

    /// <summary>
    /// The report of a finished run; <paramref name="allLayers"/> (default: as the run was created) links the heatmap,
    /// head view and network of every layer instead of layer 0 only.
    /// </summary>
    /// <exception cref="HeedException">The run has not succeeded, or the focus token is unknown.</exception>
    public RunReport Report(string id, bool? allLayers = null)
    {
        Run run = Find(id);
        bool all = allLayers ?? run.AllLayers;
        RunCapture capture = Captured(run);
        AttentionSet set = capture.Set;
        var heads = new List<HeadSummary>();
        for (int l = 0; l < set.Layers; l++)
        {
            for (int h = 0; h < set.Heads; h++)
            {
                double[][] weights = Rows(set, l, h);
                var strongest = weights.Select((row, i) =>
                {
                    int best = 0;
                    for (int j = 1; j < row.Length; j++)
                    {
                        if (row[j] > row[best]) best = j;
                    }

                    return new StrongestLink(set.QueryTokens[i], set.KeyTokens[best], row[best]);
                }).ToArray();
                string path = $"/api/v1/runs/{id}/layers/{l}/heads/{h}";
                heads.Add(new HeadSummary(l, h, strongest, path + "/svg", path + "/png"));
            }
        }

        ExplainResponse explanation = capture.Explain(0, 0, run.Focus, false, CancellationToken.None);
        StrongestLink focusLink = heads[0].Strongest[explanation.FocusIndex];
        var summary = new List<string>
        {
            $"{run.Model} ran on {capture.Tokens.Count} tokens through {set.Layers} layer(s) with {set.Layers * set.Heads} head(s) in all.",
            $"In layer 0, head 0, \"{focusLink.From}\" attends most to \"{focusLink.To}\" (weight {focusLink.Weight:0.000}); the steps below show why.",
        };
        string html = $"/api/v1/runs/{id}/report.html" + (all == run.AllLayers ? "" : $"?allLayers={(all ? "true" : "false")}");
        IReadOnlyList<PictureLink> pictures = Pictures.Links($"/api/v1/runs/{id}/pictures", set.QueryLength == set.KeyLength, all ? set.Layers : null);
        return new RunReport(run.Status(), summary, capture.Notes, heads, pictures, html, explanation);
    }

    /// <summary>
    /// The run's self-contained HTML report (Heed.Explain's <see cref="HtmlReport"/>): the model view and rollout, the
    /// heatmap, head view and network of layer 0 (of every layer with <paramref name="allLayers"/>; default: as the run
    /// was created), and the step-by-step walk-through of layer 0, head 0.
    /// </summary>
    /// <exception cref="HeedException">The run has not succeeded.</exception>
    public string ReportHtml(string id, bool? allLayers = null)
    {
        RunReport report = Report(id, allLayers);
        Run run = Find(id);
        var intro = report.Summary.Concat(report.Notes).Append("Hover over a cell, line or node to read its value. This page needs no network connection.").ToArray();
        IReadOnlyList<(string Name, Scene Scene, string Description)> pictures = AttentionPictures.All(Captured(run).Set, 0, null, allLayers ?? run.AllLayers);
        return HtmlReport.Build($"Attention of {run.Model} on \"{run.Prompt}\"", intro, pictures, report.Explanation.Text);
    }

    /// <summary>Deletes a run (stopping it if it is still running).</summary>
    /// <exception cref="HeedNotFoundException">No such run.</exception>
    public void Delete(string id)
    {
        if (!_runs.TryRemove(id, out Run? run))
        {
            throw new HeedNotFoundException($"run '{id}': no such run (it may have expired)");
        }

        run.Cancellation.Cancel();
    }

    /// <summary>Deletes every run whose expiry time has passed.</summary>
    public void Sweep()
    {
        DateTimeOffset now = _time.GetUtcNow();
        foreach (Run run in _runs.Values)
        {
            if (run.ExpiresAt <= now && _runs.TryRemove(run.Id, out _))
            {
                run.Cancellation.Cancel();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _sweeper.Dispose();
        foreach (Run run in _runs.Values)
        {
            run.Cancellation.Cancel();
        }
    }

    private static void CheckHead(AttentionSet set, int layer, int head)
    {
        if (layer < 0 || layer >= set.Layers)
        {
            throw new HeedException($"layer: {layer}; expected 0..{set.Layers - 1}");
        }

        if (head < 0 || head >= set.Heads)
        {
            throw new HeedException($"head: {head}; layer {layer} has heads 0..{set.Heads - 1}");
        }
    }

    // One head's [T·S] weights as T rows.
    private static double[][] Rows(AttentionSet set, int layer, int head)
    {
        ReadOnlySpan<double> m = set.Matrix(layer, head);
        var rows = new double[set.QueryLength][];
        for (int i = 0; i < rows.Length; i++) rows[i] = m.Slice(i * set.KeyLength, set.KeyLength).ToArray();
        return rows;
    }

    private static RunCapture Captured(Run run) => run.Capture ?? throw new HeedConflictException(run.State switch
    {
        RunState.Failed => $"run '{run.Id}' failed: {run.Error}",
        RunState.Cancelled => $"run '{run.Id}' was cancelled",
        _ => $"run '{run.Id}' is {run.State.ToString().ToLowerInvariant()}; wait for it to succeed (GET /api/v1/runs/{run.Id}/events)",
    });

    private Run Find(string id)
    {
        Sweep();
        return _runs.TryGetValue(id, out Run? run) ? run : throw new HeedNotFoundException($"run '{id}': no such run (it may have expired)");
    }

    private static void Execute(Run run, IModelRunner runner)
    {
        try
        {
            run.Cancellation.Token.ThrowIfCancellationRequested();
            run.Add(RunState.Running, 0, 0, $"running {run.Model}");
            RunCapture capture = runner.Run(run.Model, run.Prompt, (done, total, message) => run.Add(RunState.Running, done, total, message), run.Cancellation.Token);
            run.Cancellation.Token.ThrowIfCancellationRequested();
            run.Succeed(capture);
        }
        catch (OperationCanceledException)
        {
            run.Stop(RunState.Cancelled, "cancelled");
        }
        catch (HeedException ex)
        {
            run.Stop(RunState.Failed, ex.Message);
        }
#pragma warning disable CA1031 // A run's failure is reported in its status and events, never lost in a background task.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            run.Stop(RunState.Failed, $"internal error: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private sealed class Run
    {
        private readonly Lock _gate = new();
        private readonly List<RunEvent> _events = [];
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Run(string id, string model, string prompt, string? focus, DateTimeOffset created, DateTimeOffset expiresAt)
        {
            Id = id;
            Model = model;
            Prompt = prompt;
            Focus = focus;
            Created = created;
            ExpiresAt = expiresAt;
            _events.Add(new RunEvent(0, RunState.Queued, 0, 0, "queued"));
        }

        public string Id { get; }

        public string Model { get; }

        public string Prompt { get; }

        public string? Focus { get; }

        public bool AllLayers { get; init; }

        public DateTimeOffset Created { get; }

        public DateTimeOffset ExpiresAt { get; }

        public CancellationTokenSource Cancellation { get; } = new();

        public Task? Worker { get; set; }

        public RunState State { get; private set; } = RunState.Queued;

        public string? Error { get; private set; }

        public RunCapture? Capture { get; private set; }

        public RunStatus Status()
        {
            lock (_gate)
            {
                RunEvent last = _events[^1];
                return new RunStatus(Id, Model, Prompt, State, last.Done, last.Total, Error, Capture?.Tokens, Capture is null ? null : Enumerable.Repeat(Capture.Set.Heads, Capture.Set.Layers).ToArray(), Created, ExpiresAt);
            }
        }

        public (RunEvent[] Pending, Task Changed, bool Finished) Since(int next)
        {
            lock (_gate)
            {
                return (_events.Skip(next).ToArray(), _changed.Task, State is RunState.Succeeded or RunState.Failed or RunState.Cancelled);
            }
        }

        public void Add(RunState state, int done, int total, string message)
        {
            TaskCompletionSource changed;
            lock (_gate)
            {
                State = state;
                _events.Add(new RunEvent(_events.Count, state, done, total, message));
                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            changed.TrySetResult();
        }

        public void Succeed(RunCapture capture)
        {
            int total = 1 + (capture.Set.Layers * capture.Set.Heads);
            lock (_gate)
            {
                Capture = capture;
            }

            RunEvent last = Since(0).Pending[^1];
            Add(RunState.Succeeded, last.Total > 0 ? last.Total : total, last.Total > 0 ? last.Total : total, "done");
        }

        public void Stop(RunState state, string error)
        {
            lock (_gate)
            {
                Error = error;
            }

            RunEvent last = Since(0).Pending[^1];
            Add(state, last.Done, last.Total, error);
        }
    }
}
