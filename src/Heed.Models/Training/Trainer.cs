using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Heed.IO;
using Heed.Models.Gpt2;

namespace Heed.Models.Training;

/// <summary>The settings of a training run (<c>heed train</c>'s flags).</summary>
public sealed record TrainingOptions
{
    /// <summary>The task: <c>seed</c>, <c>induction</c>, <c>induction-shifted</c> or <c>chars</c>.</summary>
    public string Task { get; init; } = "induction";

    /// <summary>For <c>chars</c>: the text file.</summary>
    public string? TextPath { get; init; }

    /// <summary>The step to stop at (a resumed run counts from 0 too).</summary>
    public int Steps { get; init; } = 500;

    /// <summary>B, sequences per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>AdamW's learning rate.</summary>
    public double LearningRate { get; init; } = 1e-2;

    /// <summary>AdamW's decoupled weight decay λ (matrices and embeddings only).</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>The global gradient norm to clip to; 0 = no clipping.</summary>
    public double Clip { get; init; } = 1.0;

    /// <summary>L, transformer blocks.</summary>
    public int Layers { get; init; } = 2;

    /// <summary>H, heads per block.</summary>
    public int Heads { get; init; } = 2;

    /// <summary>C, the model width (a multiple of H).</summary>
    public int Width { get; init; } = 32;

    /// <summary>T, the sequence length trained on (and the model's n_positions).</summary>
    public int Context { get; init; } = 16;

    /// <summary>The seed of the weights and of the data.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>For the induction tasks: V, the number of symbols.</summary>
    public int VocabSize { get; init; } = 16;

    /// <summary>Threads for the matrix products and attention; the losses do not depend on it.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Checks every value; the message names the flag.</summary>
    /// <exception cref="HeedException">A value is out of range.</exception>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new HeedException(message);
        }

        Require(Task is "seed" or "induction" or "induction-shifted" or "chars", $"--task {Task}: expected seed, induction, induction-shifted or chars");
        Require(Steps >= 1, $"--steps {Steps}: expected at least 1");
        Require(BatchSize >= 1, $"--batch-size {BatchSize}: expected at least 1");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"--lr {LearningRate.ToString(CultureInfo.InvariantCulture)}: expected a positive number");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"--weight-decay {WeightDecay.ToString(CultureInfo.InvariantCulture)}: expected 0 or more");
        Require(Clip >= 0 && double.IsFinite(Clip), $"--clip {Clip.ToString(CultureInfo.InvariantCulture)}: expected 0 (off) or more");
        Require(Layers is >= 1 and <= 48, $"--layers {Layers}: expected 1..48");
        Require(Heads >= 1, $"--heads {Heads}: expected at least 1");
        Require(Width >= 1 && Width % Heads == 0, $"--width {Width}: expected a positive multiple of --heads {Heads}");
        Require(Width <= 4096, $"--width {Width}: expected at most 4096");
        Require(Context is >= 2 and <= 4096, $"--context {Context}: expected 2..4096");
        Require(Threads >= 1, $"--threads {Threads}: expected at least 1");
        Require((long)BatchSize * Context <= 1 << 20, $"--batch-size {BatchSize} × --context {Context}: more than {1 << 20} tokens a step");
    }
}

/// <summary>Where a run stands after a step.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Steps">The step the run stops at.</param>
/// <param name="Loss">This step's mean cross-entropy (before the update).</param>
/// <param name="GradNorm">The global gradient norm before clipping.</param>
/// <param name="TokensPerSecond">Tokens (B·T a step) trained per second since the run (or the resume) began.</param>
public sealed record TrainingProgress(int Step, int Steps, double Loss, double GradNorm, double TokensPerSecond);

/// <summary>
/// Trains a <see cref="TrainableGpt2{T}"/> on a <see cref="TrainingTask"/> with AdamW and gradient clipping, deterministically:
/// the same options and seed give the same losses, bit for bit, for any thread count, and a run resumed from a checkpoint
/// continues exactly as the uninterrupted run. A checkpoint is a Hugging Face GPT-2 folder (config.json, model.safetensors,
/// vocab.json, merges.txt) that <see cref="Gpt2Model.Load"/> and <c>heed explain --model</c> read, plus the optimizer's moments
/// (optimizer.safetensors) and the run's state (trainer.json).
/// </summary>
public sealed class Trainer
{
    /// <summary>The file that marks a checkpoint folder as resumable.</summary>
    public const string StateFile = "trainer.json";

    private const string OptimizerFile = "optimizer.safetensors";
    private readonly int[] _tokens, _targets;
    private readonly List<float> _losses;

    private Trainer(TrainingOptions options, TrainingTask task, TrainableGpt2<float> model, AdamW<float> optimizer, TrainingRandom random, List<float> losses)
    {
        Options = options;
        Task = task;
        Model = model;
        Optimizer = optimizer;
        Random = random;
        _losses = losses;
        _tokens = new int[options.BatchSize * options.Context];
        _targets = new int[options.BatchSize * options.Context];
        model.Threads = options.Threads;
    }

    /// <summary>The run's settings.</summary>
    public TrainingOptions Options { get; private set; }

    /// <summary>The task.</summary>
    public TrainingTask Task { get; }

    /// <summary>The model being trained.</summary>
    public TrainableGpt2<float> Model { get; }

    /// <summary>The optimizer (its step count is the run's step).</summary>
    public AdamW<float> Optimizer { get; }

    /// <summary>The data's random numbers.</summary>
    public TrainingRandom Random { get; }

    /// <summary>Steps done.</summary>
    public int Step => Optimizer.StepCount;

    /// <summary>The loss of every step so far (index = step − 1).</summary>
    public IReadOnlyList<float> Losses => _losses;

    /// <summary>A fresh run: weights from the seed (as GPT-2 initialises them), zero moments.</summary>
    /// <exception cref="HeedException">An option is out of range or the text cannot be read.</exception>
    public static Trainer Create(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        TrainingTask task = CreateTask(options, null);
        TrainableGpt2<float> model = TrainableGpt2.Create<float>(ConfigOf(options, task.Vocabulary.Count), options.Seed);

        // the data's stream is apart from the weights', so changing the model's size does not change the data
        return new Trainer(options, task, model, new AdamW<float>(model.Parameters), new TrainingRandom(options.Seed ^ 0xDA7A5EEDUL), []);
    }

    /// <summary>
    /// Resumes from a checkpoint folder written by <see cref="SaveCheckpoint"/>: weights, moments, step, data position and losses.
    /// The options are the checkpoint's, except <paramref name="steps"/> (where to stop), <paramref name="threads"/> and, for
    /// chars, <paramref name="textPath"/> (the text must be the same bytes).
    /// </summary>
    /// <exception cref="HeedException">The folder is not a checkpoint, a file is damaged, or the text differs.</exception>
    public static Trainer Resume(string folder, int? steps = null, int? threads = null, string? textPath = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string statePath = Path.Combine(folder, StateFile);
        if (!File.Exists(statePath)) throw new HeedException($"--resume {folder}: not a training checkpoint (no {StateFile})");
        JsonNode state;
        TrainingOptions options;
        int step;
        ulong randomState;
        List<float> losses;
        try
        {
            state = JsonNode.Parse(File.ReadAllBytes(statePath)) ?? throw new JsonException("empty");
            options = state["options"].Deserialize<TrainingOptions>() ?? throw new JsonException("no options");
            step = (int?)state["step"] ?? throw new JsonException("no step");
            randomState = ulong.Parse((string?)state["random"] ?? throw new JsonException("no random state"), NumberStyles.None, CultureInfo.InvariantCulture);
            losses = state["losses"].Deserialize<List<float>>() ?? [];
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new HeedException($"--resume {folder}: {StateFile} is damaged: {ex.Message}", ex);
        }

        options = options with { Steps = steps ?? options.Steps, Threads = threads ?? options.Threads, TextPath = textPath ?? options.TextPath };
        options.Validate();
        TrainingTask task = CreateTask(options, (string?)state["textSha256"]);
        Gpt2Config config = Gpt2Config.Load(Path.Combine(folder, "config.json"));
        TrainableGpt2<float> model = TrainableGpt2.FromTensors<float>(config, Safetensors.Read(Path.Combine(folder, "model.safetensors")), folder);
        var optimizer = new AdamW<float>(model.Parameters) { StepCount = step };
        IReadOnlyDictionary<string, Tensor> moments = Safetensors.Read(Path.Combine(folder, OptimizerFile));
        for (int n = 0; n < model.Parameters.Count; n++)
        {
            string name = model.Parameters[n].Name;
            if (!moments.TryGetValue("exp_avg." + name, out Tensor? m) || !moments.TryGetValue("exp_avg_sq." + name, out Tensor? v)
                || m is not Tensor<float> mf || v is not Tensor<float> vf || mf.Length != optimizer.ExpAvg[n].Length || vf.Length != optimizer.ExpAvgSq[n].Length)
            {
                throw new HeedException($"--resume {folder}: {OptimizerFile} lacks float32 moments of {name}");
            }

            mf.Data.CopyTo(optimizer.ExpAvg[n], 0);
            vf.Data.CopyTo(optimizer.ExpAvgSq[n], 0);
        }

        return new Trainer(options, task, model, optimizer, new TrainingRandom(randomState), losses);
    }

    /// <summary>
    /// One step: a batch from the task, the loss and every gradient, clipping to <see cref="TrainingOptions.Clip"/>, an AdamW update.
    /// </summary>
    public TrainingProgress TrainStep()
    {
        TrainingOptions o = Options;
        Task.Sample(Random, _tokens, _targets, o.BatchSize, o.Context);
        double loss = Model.LossAndGradients(_tokens, _targets, o.BatchSize, o.Context);
        double norm = GradientClipping.ClipGradNorm(Model.Parameters, o.Clip);
        Optimizer.Step(o.LearningRate, o.WeightDecay);
        _losses.Add((float)loss);
        return new TrainingProgress(Step, o.Steps, loss, norm, 0);
    }

    /// <summary>
    /// Trains up to <see cref="TrainingOptions.Steps"/>, reporting every step to <paramref name="progress"/> and calling
    /// <paramref name="checkpoint"/> after every <paramref name="checkpointEvery"/>-th step and after the last one. Cancellation is
    /// looked at between steps; a cancelled run stops after a whole step (its state is consistent and can be saved).
    /// </summary>
    /// <returns>True when the run reached its last step, false when it was cancelled.</returns>
    public bool Run(IProgress<TrainingProgress>? progress = null, int checkpointEvery = 0, Action<Trainer>? checkpoint = null, CancellationToken cancellationToken = default)
    {
        long start = Stopwatch.GetTimestamp();
        int first = Step;
        while (Step < Options.Steps)
        {
            if (cancellationToken.IsCancellationRequested) return false;
            TrainingProgress p = TrainStep();
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            progress?.Report(p with { TokensPerSecond = seconds > 0 ? (Step - first) * (double)Options.BatchSize * Options.Context / seconds : 0 });
            if (checkpoint is not null && (Step == Options.Steps || (checkpointEvery > 0 && Step % checkpointEvery == 0))) checkpoint(this);
        }

        return true;
    }

    /// <summary>The probe's attention after the current step: tokens, labels, weights [L][H][T·T], and the task's score.</summary>
    public TrainingProbe Probe()
    {
        (int[] tokens, string[] labels) = Task.Probe(Options.Context);
        float[] logits = Model.Forward(tokens, 1, tokens.Length, captureWeights: true);
        double[][][] weights = Model.AttentionWeights!;
        return new TrainingProbe(tokens, labels, weights, Model.AttentionScores!, logits, Task.AttentionScore(weights, tokens.Length));
    }

    /// <summary>
    /// Writes a checkpoint into <paramref name="folder"/> (created; files replaced): a Hugging Face GPT-2 folder that
    /// <see cref="Gpt2Model.Load"/> reads, plus optimizer.safetensors and trainer.json for <see cref="Resume"/>.
    /// </summary>
    public void SaveCheckpoint(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        Gpt2Config c = Model.Config;
        var config = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["n_embd"] = c.Width,
            ["n_head"] = c.NumHeads,
            ["n_layer"] = c.NumLayers,
            ["n_positions"] = c.ContextLength,
            ["n_ctx"] = c.ContextLength,
            ["n_inner"] = c.InnerWidth,
            ["vocab_size"] = c.VocabSize,
            ["activation_function"] = c.Activation,
            ["layer_norm_epsilon"] = c.LayerNormEpsilon,
            ["tie_word_embeddings"] = true,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Safetensors.Write(Path.Combine(folder, "model.safetensors"), Model.ToTensors(), new Dictionary<string, string> { ["format"] = "pt" });
        Task.Vocabulary.Write(folder);

        var moments = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int n = 0; n < Model.Parameters.Count; n++)
        {
            Parameter<float> p = Model.Parameters[n];
            moments["exp_avg." + p.Name] = Tensor.Create((float[])Optimizer.ExpAvg[n].Clone(), [.. p.Shape]);
            moments["exp_avg_sq." + p.Name] = Tensor.Create((float[])Optimizer.ExpAvgSq[n].Clone(), [.. p.Shape]);
        }

        Safetensors.Write(Path.Combine(folder, OptimizerFile), moments);
        var state = new JsonObject
        {
            ["step"] = Step,
            ["random"] = Random.State.ToString(CultureInfo.InvariantCulture),
            ["options"] = JsonSerializer.SerializeToNode(Options),
            ["textSha256"] = (Task as CharactersTask)?.Sha256,
            ["losses"] = JsonSerializer.SerializeToNode(_losses),
        };
        File.WriteAllText(Path.Combine(folder, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static Gpt2Config ConfigOf(TrainingOptions o, int vocab) =>
        new(o.Width, o.Heads, o.Layers, o.Context, vocab) { InnerWidth = 4 * o.Width, Activation = "gelu_new", LayerNormEpsilon = 1e-5f };

    private static TrainingTask CreateTask(TrainingOptions options, string? sha256)
    {
        byte[]? text = null;
        if (options.Task == "chars")
        {
            string path = options.TextPath ?? throw new HeedException("--task chars needs --text FILE");
            try
            {
                text = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new HeedException($"--text {path}: cannot read: {ex.Message}", ex);
            }
        }

        TrainingTask task = TrainingTask.Create(options.Task, options.VocabSize, text);
        if (task is CharactersTask chars)
        {
            if (chars.Length < options.Context + 1)
            {
                throw new HeedException($"--text {options.TextPath}: {chars.Length} bytes, fewer than --context {options.Context} + 1");
            }

            if (sha256 is not null && sha256 != chars.Sha256)
            {
                throw new HeedException($"--text {options.TextPath}: not the text the checkpoint was trained on (its SHA-256 differs); resuming would not continue the same run");
            }
        }

        return task;
    }
}

/// <summary>The probe sequence's attention at one point of a run.</summary>
/// <param name="Tokens">The T token ids.</param>
/// <param name="Labels">Their byte-level spellings.</param>
/// <param name="Weights">[L][H][T·T] probabilities, row = query.</param>
/// <param name="Scores">[L][H][T·T] scores q·k/√D, −∞ where masked.</param>
/// <param name="Logits">[T, V] logits.</param>
/// <param name="Score">The task's score with its best layer and head, or null.</param>
public sealed record TrainingProbe(int[] Tokens, string[] Labels, double[][][] Weights, double[][][] Scores, float[] Logits, (double Score, int Layer, int Head)? Score);
