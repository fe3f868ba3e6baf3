using System.Collections.Concurrent;
using System.ComponentModel;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Heed.Explain;
using Heed.Explain.Pictures;
using Heed.Models.Training;

namespace Heed.Server.Services;

/// <summary>A training of a small GPT-2 on a task: the fields of <c>heed train</c>, bounded so that a training takes minutes.</summary>
public sealed record TrainingRequest
{
    /// <summary>seed, induction, induction-shifted or chars; default induction.</summary>
    [Description("What to learn: seed (the seed's \"The cat sat on the mat.\" sentences), induction (random symbols whose second half repeats the first: a head attending a fixed distance back solves it), induction-shifted (a block repeated at a distance that varies: only a content-matching induction head predicts it) or chars (character-level text given in text); default induction.")]
    public string? Task { get; init; }

    /// <summary>The text of task chars (at most 65536 UTF-8 bytes).</summary>
    [Description("For task chars only: the text itself, UTF-8, each byte a token; more bytes than context and at most 65536.")]
    public string? Text { get; init; }

    /// <summary>Steps to train; default 200.</summary>
    [Description("Steps to train, 1..2000 (default 200).")]
    public int? Steps { get; init; }

    /// <summary>Sequences per step; default 16.</summary>
    [Description("Sequences per step B, 1..64 (default 16); batchSize × context is at most 2048 tokens a step.")]
    public int? BatchSize { get; init; }

    /// <summary>AdamW's learning rate; default 0.01.</summary>
    [Description("AdamW's learning rate, in (0, 1] (default 0.01).")]
    public double? Lr { get; init; }

    /// <summary>AdamW's decoupled weight decay; default 0.01.</summary>
    [Description("AdamW's decoupled weight decay of matrices and embeddings, 0..1 (default 0.01).")]
    public double? WeightDecay { get; init; }

    /// <summary>The global gradient norm to clip to; default 1, 0 = off.</summary>
    [Description("Clip the gradients' global norm to this, 0..100 (default 1; 0 = off).")]
    public double? Clip { get; init; }

    /// <summary>Transformer blocks L; default 2.</summary>
    [Description("Transformer blocks L, 1..4 (default 2).")]
    public int? Layers { get; init; }

    /// <summary>Heads per block H; default 2.</summary>
    [Description("Attention heads per block H, 1..8 (default 2).")]
    public int? Heads { get; init; }

    /// <summary>The model width C; default 32.</summary>
    [Description("The model width C, a multiple of heads, at most 128 (default 32).")]
    public int? Width { get; init; }

    /// <summary>Tokens per sequence T; default 16.</summary>
    [Description("Tokens per sequence T (the model's context), 2..64 (default 16).")]
    public int? Context { get; init; }

    /// <summary>Symbols of the induction tasks; default 16.</summary>
    [Description("Symbols V of the induction tasks, 2..52 (default 16).")]
    public int? Vocab { get; init; }

    /// <summary>The seed of the weights and the data; default 1.</summary>
    [Description("The seed of the weights and the data, 0 or more (default 1): the same seed and fields give the same losses.")]
    public long? Seed { get; init; }

    /// <summary>Steps between checkpoints; default 50.</summary>
    [Description("Take a checkpoint (the probe's attention, a 'checkpoint' event) every this many steps and after the last, 1..steps (default 50).")]
    public int? CheckpointEvery { get; init; }
}

/// <summary>
/// A resumption of a cancelled or finished training from its checkpoint: a new training that continues the same run (weights,
/// AdamW's moments, the data's random stream and every loss so far), ending where a training of <c>steps</c> steps from the
/// start would end, bit for bit. Every other setting is the original training's.
/// </summary>
public sealed record TrainingResumeRequest
{
    /// <summary>The step to stop at, counted from the original training's first step; default the original's steps.</summary>
    [Description("The step the resumed training stops at, counted from the original training's first step as step and steps are in its status: more than the checkpoint's step and at most 2000. Default: the original training's steps (enough for a cancelled training; a finished one needs more).")]
    public int? Steps { get; init; }

    /// <summary>Steps between checkpoints; default the original's.</summary>
    [Description("Take a checkpoint (the probe's attention, a 'checkpoint' event) at every step that is a multiple of this, and after the last, 1..steps (default the original training's checkpointEvery).")]
    public int? CheckpointEvery { get; init; }
}

/// <summary>Where a resumed training began.</summary>
/// <param name="Training">The id of the training whose checkpoint it continues.</param>
/// <param name="Step">The checkpoint's step: losses up to this step are the original training's.</param>
public sealed record TrainingResumePoint(string Training, int Step);

/// <summary>One event of a training.</summary>
/// <param name="Sequence">0, 1, 2, … in order.</param>
/// <param name="Kind">queued, started, progress (one per step), checkpoint, succeeded, failed or cancelled (the SSE event type).</param>
/// <param name="State">The training's state after this event.</param>
/// <param name="Step">Steps done.</param>
/// <param name="Steps">The step the training stops at.</param>
/// <param name="Loss">This step's mean cross-entropy (progress events), the same number as in losses.</param>
/// <param name="GradNorm">The global gradient norm before clipping (progress events).</param>
/// <param name="TokensPerSecond">Tokens trained per second so far (progress events).</param>
/// <param name="Score">The task's attention score at a checkpoint, with its best head, or null.</param>
/// <param name="Message">What happened.</param>
public sealed record TrainingEvent(int Sequence, string Kind, RunState State, int Step, int Steps, float? Loss, double? GradNorm, double? TokensPerSecond, TrainingScore? Score, string Message);

/// <summary>The task's attention score at a checkpoint.</summary>
/// <param name="Name">What the score measures.</param>
/// <param name="Value">The best head's score.</param>
/// <param name="Layer">The best head's layer.</param>
/// <param name="Head">The best head.</param>
public sealed record TrainingScore(string Name, double Value, int Layer, int Head);

/// <summary>The settings a training runs with, every default filled in.</summary>
/// <param name="Task">The task.</param>
/// <param name="TextBytes">The bytes of the text of task chars, else 0.</param>
/// <param name="Steps">Steps to train.</param>
/// <param name="BatchSize">Sequences per step.</param>
/// <param name="Lr">AdamW's learning rate.</param>
/// <param name="WeightDecay">AdamW's weight decay.</param>
/// <param name="Clip">The gradient norm clipped to (0 = off).</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Heads per block.</param>
/// <param name="Width">Model width.</param>
/// <param name="Context">Tokens per sequence.</param>
/// <param name="Vocab">Symbols of the induction tasks.</param>
/// <param name="Seed">The seed.</param>
/// <param name="CheckpointEvery">Steps between checkpoints.</param>
public sealed record TrainingSettings(string Task, int TextBytes, int Steps, int BatchSize, double Lr, double WeightDecay, double Clip, int Layers, int Heads, int Width, int Context, int Vocab, long Seed, int CheckpointEvery);

/// <summary>A training's status.</summary>
/// <param name="Id">The training id.</param>
/// <param name="State">Queued, Running, Succeeded, Failed or Cancelled.</param>
/// <param name="Step">Steps done.</param>
/// <param name="Steps">The step it stops at.</param>
/// <param name="Loss">The last step's loss, or null before the first step.</param>
/// <param name="Losses">Every step's loss so far (index = step − 1; at most 2000).</param>
/// <param name="TokensPerSecond">Tokens trained per second so far.</param>
/// <param name="CheckpointStep">The step of the latest checkpoint (whose attention the picture shows), or null.</param>
/// <param name="Score">The task's attention score at the latest checkpoint, or null.</param>
/// <param name="Model">Once finished with at least one step, the trained model's id in GET /api/v1/models (runs, explain), else null.</param>
/// <param name="Error">Why it failed or was cancelled, else null.</param>
/// <param name="Settings">The settings, every default filled in.</param>
/// <param name="Created">When it was created.</param>
/// <param name="ExpiresAt">When it and its model are deleted.</param>
/// <param name="ResumedFrom">For a resumed training, the training and step it continues (its losses up to that step are the original's), else null.</param>
public sealed record TrainingStatus(string Id, RunState State, int Step, int Steps, float? Loss, IReadOnlyList<float> Losses, double TokensPerSecond, int? CheckpointStep, TrainingScore? Score, string? Model, string? Error, TrainingSettings Settings, DateTimeOffset Created, DateTimeOffset ExpiresAt, TrainingResumePoint? ResumedFrom = null);

/// <summary>A list of trainings.</summary>
/// <param name="Trainings">The trainings, newest first.</param>
public sealed record TrainingList(IReadOnlyList<TrainingStatus> Trainings);

/// <summary>
/// Trainings of small GPT-2 models on Heed.Models' <see cref="Trainer"/>, run in the background with an event per step and per
/// checkpoint, cancellable, kept at most <see cref="ServerLimits.MaxTrainings"/> and deleted with their model once
/// <see cref="ServerLimits.RunExpiry"/> has passed. A finished training's model (a Hugging Face GPT-2 folder in a folder of the
/// server's own) is registered in the <see cref="ModelCatalog"/> as <c>trained-&lt;id&gt;</c>, so runs and explain can use it.
/// </summary>
public sealed class TrainingService : IDisposable
{
    /// <summary>The most steps one training may ask for.</summary>
    public const int MaxSteps = 2000;

    /// <summary>The most bytes of a chars text.</summary>
    public const int MaxTextBytes = 65536;

    private const string TextFile = "text.txt";
    private const int MaxLayers = 4, MaxHeads = 8, MaxWidth = 128, MaxContext = 64, MaxBatch = 64, MaxTokensPerStep = 2048;
    private readonly ConcurrentDictionary<string, Training> _trainings = new(StringComparer.Ordinal);
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;
    private readonly TimeProvider _time;
    private readonly Timer _sweeper;
    private readonly Lazy<string> _root = new(CreateRoot);

    /// <summary>Creates the service.</summary>
    public TrainingService(ModelCatalog models, ServerLimits limits, TimeProvider time)
    {
        _models = models;
        _limits = limits;
        _time = time;
        TimeSpan period = limits.RunExpiry < TimeSpan.FromSeconds(30) ? limits.RunExpiry : TimeSpan.FromSeconds(30);
        _sweeper = new Timer(_ => Sweep(), null, period, period);
    }

    /// <summary>
    /// The settings of a request, every default filled in and every field checked; the message names the field.
    /// Nothing is started.
    /// </summary>
    /// <exception cref="HeedException">A field is out of range, or too many trainings are kept.</exception>
    public TrainingSettings Prepare(TrainingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Sweep();
        static void Require(bool ok, string message)
        {
            if (!ok) throw new HeedException(message);
        }

        static string N(double v) => v.ToString(CultureInfo.InvariantCulture);
        string task = request.Task ?? "induction";
        Require(task is "seed" or "induction" or "induction-shifted" or "chars", $"task: '{task}'; expected seed, induction, induction-shifted or chars");
        int textBytes = 0;
        if (task == "chars")
        {
            Require(request.Text is not null, "text: required for task chars, the text to learn (UTF-8, at most 65536 bytes)");
            textBytes = Encoding.UTF8.GetByteCount(request.Text!);
            Require(textBytes <= MaxTextBytes, $"text: {textBytes} bytes; expected at most {MaxTextBytes}");
        }
        else
        {
            Require(request.Text is null, $"text: only for task chars, not {task}");
        }

        int steps = request.Steps ?? 200, batch = request.BatchSize ?? 16, layers = request.Layers ?? 2, heads = request.Heads ?? 2;
        int width = request.Width ?? 32, context = request.Context ?? 16, vocab = request.Vocab ?? 16;
        double lr = request.Lr ?? 1e-2, decay = request.WeightDecay ?? 0.01, clip = request.Clip ?? 1.0;
        long seed = request.Seed ?? 1;
        int every = request.CheckpointEvery ?? Math.Min(50, steps);
        Require(steps is >= 1 and <= MaxSteps, $"steps: {steps}; expected 1..{MaxSteps}");
        Require(batch is >= 1 and <= MaxBatch, $"batchSize: {batch}; expected 1..{MaxBatch}");
        Require(lr > 0 && lr <= 1, $"lr: {N(lr)}; expected a number in (0, 1]");
        Require(decay is >= 0 and <= 1, $"weightDecay: {N(decay)}; expected 0..1");
        Require(clip is >= 0 and <= 100, $"clip: {N(clip)}; expected 0..100 (0 = off)");
        Require(layers is >= 1 and <= MaxLayers, $"layers: {layers}; expected 1..{MaxLayers}");
        Require(heads is >= 1 and <= MaxHeads, $"heads: {heads}; expected 1..{MaxHeads}");
        Require(width >= 1 && width <= MaxWidth && width % heads == 0, $"width: {width}; expected a multiple of heads ({heads}) up to {MaxWidth}");
        Require(context is >= 2 and <= MaxContext, $"context: {context}; expected 2..{MaxContext}");
        Require(task == "chars" || task == "seed" || vocab is >= 2 and <= 52, $"vocab: {vocab}; expected 2..52");
        Require(batch * context <= MaxTokensPerStep, $"batchSize: {batch} × context {context} = {batch * context} tokens a step; expected at most {MaxTokensPerStep}");
        Require(seed >= 0, $"seed: {seed}; expected 0 or more");
        Require(every >= 1 && every <= steps, $"checkpointEvery: {every}; expected 1..steps ({steps})");
        Require(task != "chars" || textBytes > context, $"text: {textBytes} bytes; expected more than context ({context})");
        Require(_trainings.Count < _limits.MaxTrainings, $"trainings: {_trainings.Count} trainings are kept, the server's limit; delete some or wait for them to expire");
        return new TrainingSettings(task, textBytes, steps, batch, lr, decay, clip, layers, heads, width, context, vocab, seed, every);
    }

    /// <summary>Checks a request and starts it in the background; the training owns <paramref name="slot"/> (a computation slot) and releases it when it ends.</summary>
    /// <exception cref="HeedException">As <see cref="Prepare"/>.</exception>
    public TrainingStatus Create(TrainingRequest request, IDisposable? slot = null) => Start(request, Prepare(request), slot);

    /// <summary>Starts a training whose settings <see cref="Prepare"/> made from <paramref name="request"/>.</summary>
    public TrainingStatus Start(TrainingRequest request, TrainingSettings settings, IDisposable? slot)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(settings);
        DateTimeOffset now = _time.GetUtcNow();
        var training = new Training(NewId(), settings, now, now + _limits.RunExpiry);
        _trainings[training.Id] = training;
        string? text = request.Text;
        training.Worker = System.Threading.Tasks.Task.Run(() =>
        {
            using IDisposable? held = slot;
            Execute(training, folder =>
            {
                string? textPath = null;
                if (text is not null)
                {
                    // the library reads chars from a file: the request's text, in the training's own folder
                    textPath = Path.Combine(folder, TextFile);
                    File.WriteAllText(textPath, text, new UTF8Encoding(false));
                }

                return Trainer.Create(Options(training.Settings, textPath));
            });
        });
        return training.Status();
    }

    /// <summary>
    /// The settings a resumption of training <paramref name="id"/> runs with (the original's, with the request's steps and
    /// checkpointEvery), every field checked; the message names the field. Nothing is started.
    /// </summary>
    /// <exception cref="HeedNotFoundException">No such training, or it expired.</exception>
    /// <exception cref="HeedConflictException">It is queued or running, or it has no checkpoint (it failed, or ended before its first step).</exception>
    /// <exception cref="HeedException">A field is out of range, or too many trainings are kept.</exception>
    public TrainingSettings PrepareResume(string id, TrainingResumeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Training source = Find(id);
        RunState state = source.Status().State;
        if (state is RunState.Queued or RunState.Running)
        {
            throw new HeedConflictException($"training '{id}' is {state.ToString().ToLowerInvariant()}; resume it once it has ended (cancel it, or wait for its 'succeeded' event)");
        }

        (string Folder, int Step) saved = source.Saved ?? throw new HeedConflictException(state == RunState.Failed
            ? $"training '{id}' failed; it has no checkpoint to resume from"
            : $"training '{id}' ended before its first step; it has no checkpoint to resume from");
        int at = saved.Step;
        int steps = request.Steps ?? source.Settings.Steps;
        int every = request.CheckpointEvery ?? Math.Min(source.Settings.CheckpointEvery, steps);
        if (at >= MaxSteps) throw new HeedException($"steps: training '{id}' is at step {at}, the most a training may take ({MaxSteps}); it cannot be resumed");
        if (steps <= at || steps > MaxSteps)
        {
            throw new HeedException($"steps: {steps}; expected {at + 1}..{MaxSteps}, the step to stop at (training '{id}' is at step {at})");
        }

        if (every < 1 || every > steps) throw new HeedException($"checkpointEvery: {every}; expected 1..steps ({steps})");
        if (_trainings.Count >= _limits.MaxTrainings)
        {
            throw new HeedException($"trainings: {_trainings.Count} trainings are kept, the server's limit; delete some or wait for them to expire");
        }

        return source.Settings with { Steps = steps, CheckpointEvery = every };
    }

    /// <summary>
    /// Checks a resumption and starts it in the background as a new training; the training owns <paramref name="slot"/> (a
    /// computation slot) and releases it when it ends.
    /// </summary>
    /// <exception cref="HeedException">As <see cref="PrepareResume"/>.</exception>
    public TrainingStatus Resume(string id, TrainingResumeRequest request, IDisposable? slot = null) => StartResume(id, PrepareResume(id, request), slot);

    /// <summary>
    /// Starts a new training that continues training <paramref name="id"/> from its checkpoint, with the settings
    /// <see cref="PrepareResume"/> made. The checkpoint is read here, so that the original may be deleted once this returns.
    /// </summary>
    /// <exception cref="HeedNotFoundException">The original was deleted or expired meanwhile.</exception>
    /// <exception cref="HeedConflictException">Its checkpoint cannot be read.</exception>
    public TrainingStatus StartResume(string id, TrainingSettings settings, IDisposable? slot)
    {
        ArgumentNullException.ThrowIfNull(settings);
        bool started = false;
        try
        {
            Training source = Find(id);
            (string checkpoint, int at) = source.Saved ?? throw new HeedConflictException($"training '{id}' has no checkpoint to resume from");
            string newId = NewId();
            string folder = Path.Combine(_root.Value, newId);
            Trainer trainer;
            try
            {
                Directory.CreateDirectory(folder);
                string? textPath = null;
                if (settings.Task == "chars")
                {
                    // the text travels with the new training, so that it outlives the original
                    textPath = Path.Combine(folder, TextFile);
                    File.Copy(Path.Combine(_root.Value, id, TextFile), textPath);
                }

                trainer = Trainer.Resume(checkpoint, settings.Steps, threads: 1, textPath);
            }
            catch (Exception ex) when (ex is HeedException or IOException or UnauthorizedAccessException)
            {
                DeleteFolder(folder);
                if (!_trainings.ContainsKey(id)) throw new HeedNotFoundException($"training '{id}': no such training (it may have expired)");

                // the library's message names the server's own folder, which is no business of a client's
                throw new HeedConflictException($"training '{id}': its checkpoint at step {at} cannot be read ({ex.GetType().Name})");
            }

            DateTimeOffset now = _time.GetUtcNow();
            var training = new Training(newId, settings, now, now + _limits.RunExpiry, trainer.Losses, new TrainingResumePoint(id, trainer.Step));
            _trainings[training.Id] = training;
            training.Worker = System.Threading.Tasks.Task.Run(() =>
            {
                using IDisposable? held = slot;
                Execute(training, _ => trainer);
            });
            started = true;
            return training.Status();
        }
        finally
        {
            if (!started) slot?.Dispose();
        }
    }

    /// <summary>The options the library's <see cref="Trainer"/> gets for these settings (text: the file holding the chars text).</summary>
    public static TrainingOptions Options(TrainingSettings settings, string? textPath)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new TrainingOptions
        {
            Task = settings.Task,
            TextPath = textPath,
            Steps = settings.Steps,
            BatchSize = settings.BatchSize,
            LearningRate = settings.Lr,
            WeightDecay = settings.WeightDecay,
            Clip = settings.Clip,
            Layers = settings.Layers,
            Heads = settings.Heads,
            Width = settings.Width,
            Context = settings.Context,
            VocabSize = settings.Vocab,
            Seed = (ulong)settings.Seed,
            Threads = 1,
        };
    }

    /// <summary>
    /// Starts a training and follows it to its end, passing each event to <paramref name="onEvent"/>; returns the final status.
    /// When <paramref name="cancellation"/> fires the training is cancelled too.
    /// </summary>
    /// <exception cref="HeedException">As <see cref="Prepare"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public Task<TrainingStatus> RunToEndAsync(TrainingRequest request, Func<TrainingEvent, Task>? onEvent, CancellationToken cancellation) =>
        FollowAsync(Create(request), onEvent, cancellation);

    /// <summary>
    /// Resumes a training and follows the new training to its end, passing each event to <paramref name="onEvent"/>; returns
    /// its final status. When <paramref name="cancellation"/> fires the new training is cancelled too.
    /// </summary>
    /// <exception cref="HeedException">As <see cref="PrepareResume"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public Task<TrainingStatus> ResumeToEndAsync(string id, TrainingResumeRequest request, Func<TrainingEvent, Task>? onEvent, CancellationToken cancellation) =>
        FollowAsync(Resume(id, request), onEvent, cancellation);

    private async Task<TrainingStatus> FollowAsync(TrainingStatus created, Func<TrainingEvent, Task>? onEvent, CancellationToken cancellation)
    {
        try
        {
            await foreach (TrainingEvent e in EventsAsync(created.Id, cancellation).ConfigureAwait(false))
            {
                if (onEvent is not null) await onEvent(e).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            if (_trainings.TryGetValue(created.Id, out Training? training)) training.Cancellation.Cancel();
            throw;
        }

        return Get(created.Id);
    }

    /// <summary>Every training's status, newest first.</summary>
    public IReadOnlyList<TrainingStatus> List()
    {
        Sweep();
        return _trainings.Values.OrderByDescending(t => t.Created).Select(t => t.Status()).ToArray();
    }

    /// <summary>A training's status.</summary>
    /// <exception cref="HeedNotFoundException">No such training, or it expired.</exception>
    public TrainingStatus Get(string id) => Find(id).Status();

    /// <summary>Asks a training to stop after its current step; a finished one is left as it is.</summary>
    /// <exception cref="HeedNotFoundException">No such training.</exception>
    public TrainingStatus Cancel(string id)
    {
        Training training = Find(id);
        training.Cancellation.Cancel();
        return training.Status();
    }

    /// <summary>Deletes a training and its model (stopping it if it runs).</summary>
    /// <exception cref="HeedNotFoundException">No such training.</exception>
    public void Delete(string id)
    {
        if (!_trainings.TryRemove(id, out Training? training)) throw new HeedNotFoundException($"training '{id}': no such training (it may have expired)");
        Remove(training);
    }

    /// <summary>The training's events from the first, then each new one as it happens, until it ends.</summary>
    /// <exception cref="HeedNotFoundException">No such training.</exception>
    public async IAsyncEnumerable<TrainingEvent> EventsAsync(string id, [EnumeratorCancellation] CancellationToken cancellation)
    {
        Training training = Find(id);
        int next = 0;
        while (true)
        {
            (TrainingEvent[] pending, Task changed, bool finished) = training.Since(next);
            foreach (TrainingEvent e in pending) yield return e;
            next += pending.Length;
            if (finished && pending.Length == 0) yield break;
            if (!finished) await changed.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>The loss curve so far.</summary>
    /// <exception cref="HeedConflictException">No step has been taken yet.</exception>
    public Scene LossCurve(string id)
    {
        Training training = Find(id);
        float[] losses = training.Losses();
        if (losses.Length == 0) throw new HeedConflictException($"training '{id}' has taken no step yet; wait for its first progress event");
        TrainingSettings s = training.Settings;
        string title = string.Create(CultureInfo.InvariantCulture, $"task {s.Task}: {s.Layers} layers, {s.Heads} heads, width {s.Width}, context {s.Context}, seed {s.Seed}");
        if (training.ResumedFrom is { } from) title += string.Create(CultureInfo.InvariantCulture, $"; resumed from training {from.Training} at step {from.Step}");
        return TrainingPictures.LossCurve(losses, title);
    }

    /// <summary>
    /// The heatmap of one head on the task's probe sequence at the latest checkpoint: by default the task's best head, else the
    /// last layer's head 0.
    /// </summary>
    /// <exception cref="HeedConflictException">No checkpoint yet.</exception>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    public Scene Attention(string id, int? layer, int? head)
    {
        Training training = Find(id);
        (TrainingProbe probe, int step) = training.Latest ?? throw new HeedConflictException($"training '{id}' has no checkpoint yet; wait for its first 'checkpoint' event");
        TrainingSettings s = training.Settings;
        if (layer is int l0 && (l0 < 0 || l0 >= s.Layers)) throw new HeedException($"layer: {l0}; expected 0..{s.Layers - 1}");
        if (head is int h0 && (h0 < 0 || h0 >= s.Heads)) throw new HeedException($"head: {h0}; expected 0..{s.Heads - 1}");
        int l = layer ?? probe.Score?.Layer ?? s.Layers - 1;
        int h = head ?? (layer is null ? probe.Score?.Head : null) ?? 0;
        var set = new AttentionSet(probe.Labels, probe.Labels, probe.Weights, probe.Scores) { Source = string.Create(CultureInfo.InvariantCulture, $"step {step}") };
        string[] notes = probe.Score is { } best
            ? [string.Create(CultureInfo.InvariantCulture, $"best head by the task's score: layer {best.Layer}, head {best.Head} ({best.Score:F3})")]
            : [];
        return AttentionPictures.Heatmap(set, l, h, string.Create(CultureInfo.InvariantCulture, $"{s.Task}, step {step}: layer {l}, head {h}"), notes);
    }

    /// <summary>Deletes every training whose expiry time has passed, with its model.</summary>
    public void Sweep()
    {
        DateTimeOffset now = _time.GetUtcNow();
        foreach (Training training in _trainings.Values)
        {
            if (training.ExpiresAt <= now && _trainings.TryRemove(training.Id, out _)) Remove(training);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _sweeper.Dispose();
        foreach (Training training in _trainings.Values) training.Cancellation.Cancel();
        foreach (Training training in _trainings.Values) training.Worker?.Wait(TimeSpan.FromSeconds(5));
        if (_root.IsValueCreated && Directory.Exists(_root.Value))
        {
            try
            {
                Directory.Delete(_root.Value, recursive: true);
            }
            catch (IOException)
            {
                // a file still open on a platform that forbids deleting it: the temporary folder is the OS's to clean
            }
        }
    }

    private void Remove(Training training)
    {
        training.Cancellation.Cancel();
        _models.Unregister(ModelIdOf(training.Id));

        // the folder goes once the worker has let go of it
        _ = (training.Worker ?? System.Threading.Tasks.Task.CompletedTask).ContinueWith(
            _ => DeleteFolder(Path.Combine(_root.Value, training.Id)), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    private static void DeleteFolder(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // left for the server's own folder's deletion at shutdown
        }
    }

    /// <summary>The catalog id of a training's model.</summary>
    public static string ModelIdOf(string id) => "trained-" + id;

    private void Execute(Training training, Func<string, Trainer> create)
    {
        try
        {
            // a resumed training cancelled at once still saves its checkpoint (the one it was resumed from), so it stays resumable
            if (training.ResumedFrom is null) training.Cancellation.Token.ThrowIfCancellationRequested();
            string folder = Path.Combine(_root.Value, training.Id);
            Directory.CreateDirectory(folder);
            Trainer trainer = create(folder);
            TrainingResumePoint? from = training.ResumedFrom;
            string started = from is null
                ? $"training {training.Settings.Task}"
                : string.Create(CultureInfo.InvariantCulture, $"training {training.Settings.Task}, resumed from training {from.Training} at step {from.Step}");
            training.Add("started", RunState.Running, trainer.Step, null, null, null, null, started);

            // a resumed training shows its starting point's attention at once
            if (from is not null) Checkpoint(training, trainer);
            var progress = new SynchronousProgress(p => training.Add("progress", RunState.Running, p.Step, (float)p.Loss, p.GradNorm, p.TokensPerSecond, null, string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.Steps}: loss {p.Loss:F4}")));
            bool finished = trainer.Run(progress, training.Settings.CheckpointEvery, t => Checkpoint(training, t), training.Cancellation.Token);
            if (!finished && trainer.Step > 0 && training.Latest?.Step != trainer.Step) Checkpoint(training, trainer);
            if (trainer.Step > 0)
            {
                string modelId = ModelIdOf(training.Id);
                string modelFolder = Path.Combine(folder, modelId);
                trainer.SaveCheckpoint(modelFolder);
                if (_trainings.ContainsKey(training.Id))
                {
                    training.Saved = (modelFolder, trainer.Step);
                    _models.Register(modelId, modelFolder, string.Create(CultureInfo.InvariantCulture, $"A GPT-2 trained on this server (task {training.Settings.Task}, {trainer.Step} steps, seed {training.Settings.Seed}); deleted with training {training.Id}"));
                    training.Model = modelId;
                }
            }

            if (finished) training.Finish(RunState.Succeeded, null, "done");
            else training.Finish(RunState.Cancelled, $"cancelled after step {trainer.Step}", $"cancelled after step {trainer.Step}");
        }
        catch (OperationCanceledException)
        {
            training.Finish(RunState.Cancelled, "cancelled", "cancelled");
        }
        catch (HeedException ex)
        {
            training.Finish(RunState.Failed, ex.Message, ex.Message);
        }
#pragma warning disable CA1031 // A training's failure is reported in its status and events, never lost in a background task.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            training.Finish(RunState.Failed, $"internal error: {ex.GetType().Name}: {ex.Message}", "internal error");
        }
    }

    private static void Checkpoint(Training training, Trainer trainer)
    {
        TrainingProbe probe = trainer.Probe();

        // the model's buffers are reused by the next step: the checkpoint keeps its own copy
        double[][][] Copy(double[][][] a) => a.Select(l => l.Select(h => (double[])h.Clone()).ToArray()).ToArray();
        probe = probe with { Weights = Copy(probe.Weights), Scores = Copy(probe.Scores), Logits = [] };
        TrainingScore? score = probe.Score is { } s ? new TrainingScore(trainer.Task.ScoreName, s.Score, s.Layer, s.Head) : null;
        training.Checkpoint(probe, trainer.Step, score);
    }

    private static string CreateRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), "heed-trainings-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(root);
        else Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return root;
    }

    private Training Find(string id)
    {
        Sweep();
        return _trainings.TryGetValue(id, out Training? training) ? training : throw new HeedNotFoundException($"training '{id}': no such training (it may have expired)");
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    private sealed class Training(string id, TrainingSettings settings, DateTimeOffset created, DateTimeOffset expiresAt, IReadOnlyList<float>? losses = null, TrainingResumePoint? resumedFrom = null)
    {
        private readonly Lock _gate = new();
        private readonly List<TrainingEvent> _events = [new TrainingEvent(0, "queued", RunState.Queued, losses?.Count ?? 0, settings.Steps, null, null, null, null, "queued")];
        private readonly List<float> _losses = [.. losses ?? []];
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private RunState _state = RunState.Queued;
        private double _tokensPerSecond;
        private string? _error;
        private TrainingScore? _score;

        public string Id { get; } = id;

        public TrainingSettings Settings { get; } = settings;

        public DateTimeOffset Created { get; } = created;

        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public CancellationTokenSource Cancellation { get; } = new();

        public Task? Worker { get; set; }

        public string? Model { get; set; }

        public TrainingResumePoint? ResumedFrom { get; } = resumedFrom;

        /// <summary>The resumable checkpoint the worker wrote at the end, and its step.</summary>
        public (string Folder, int Step)? Saved { get; set; }

        public (TrainingProbe Probe, int Step)? Latest { get; private set; }

        public float[] Losses()
        {
            lock (_gate) return [.. _losses];
        }

        public TrainingStatus Status()
        {
            lock (_gate)
            {
                return new TrainingStatus(Id, _state, _losses.Count, Settings.Steps, _losses.Count > 0 ? _losses[^1] : null, [.. _losses], _tokensPerSecond, Latest?.Step, _score, Model, _error, Settings, Created, ExpiresAt, ResumedFrom);
            }
        }

        public (TrainingEvent[] Pending, Task Changed, bool Finished) Since(int next)
        {
            lock (_gate) return (_events.Skip(next).ToArray(), _changed.Task, _state is RunState.Succeeded or RunState.Failed or RunState.Cancelled);
        }

        public void Checkpoint(TrainingProbe probe, int step, TrainingScore? score)
        {
            lock (_gate)
            {
                Latest = (probe, step);
                _score = score;
            }

            string message = score is null
                ? string.Create(CultureInfo.InvariantCulture, $"checkpoint at step {step}")
                : string.Create(CultureInfo.InvariantCulture, $"checkpoint at step {step}: best head layer {score.Layer}, head {score.Head}, score {score.Value:F3}");
            Add("checkpoint", RunState.Running, step, null, null, null, score, message);
        }

        public void Finish(RunState state, string? error, string message)
        {
            int step;
            lock (_gate)
            {
                _error = error;
                step = _losses.Count;
            }

            Add(state.ToString().ToLowerInvariant(), state, step, null, null, null, null, message);
        }

        public void Add(string kind, RunState state, int step, float? loss, double? gradNorm, double? tokensPerSecond, TrainingScore? score, string message)
        {
            TaskCompletionSource changed;
            lock (_gate)
            {
                _state = state;
                if (kind == "progress")
                {
                    _losses.Add(loss!.Value);
                    _tokensPerSecond = tokensPerSecond ?? 0;
                }

                _events.Add(new TrainingEvent(_events.Count, kind, state, step, Settings.Steps, loss, gradNorm, tokensPerSecond, score, message));
                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            changed.TrySetResult();
        }
    }
}
