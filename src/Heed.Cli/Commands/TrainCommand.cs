using System.CommandLine;
using System.Globalization;
using Heed.Explain;
using Heed.Models.Training;

namespace Heed.Cli.Commands;

/// <summary>
/// <c>heed train</c>: trains a small GPT-2 on a task by name (seed, induction, chars) with Heed.Models' trainer, a progress line
/// with the loss on stderr, and with <c>--out DIR</c> a checkpoint folder every N steps (a Hugging Face GPT-2 folder that
/// <c>heed explain --model</c> loads, plus what <c>--resume</c> needs), the loss curve and the probe's attention per checkpoint.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "seed (the seed's \"The cat sat on the mat.\" sentences), induction (random symbols whose second half repeats the first: a head attending a fixed distance back solves it), induction-shifted (a block repeated at a distance that varies between sequences: only a content-matching induction head predicts it) or chars (character-level text from --text)", DefaultValueFactory = _ => "induction" };
        task.AcceptOnlyFromAmong("seed", "induction", "induction-shifted", "chars");
        var text = new Option<string?>("--text") { Description = "The text file of --task chars (UTF-8; each byte is a token)" };
        var steps = new Option<int?>("--steps") { Description = "The step to stop at (default 500; with --resume, the checkpoint's unless given)" };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per step", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "AdamW learning rate", DefaultValueFactory = _ => 1e-2 };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay (matrices and embeddings)", DefaultValueFactory = _ => 0.01 };
        var clip = new Option<double>("--clip") { Description = "Clip the gradients' global norm to this (0 = off)", DefaultValueFactory = _ => 1.0 };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks", DefaultValueFactory = _ => 2 };
        var heads = new Option<int>("--heads") { Description = "Attention heads per block", DefaultValueFactory = _ => 2 };
        var width = new Option<int>("--width") { Description = "Model width C (a multiple of --heads)", DefaultValueFactory = _ => 32 };
        var context = new Option<int>("--context") { Description = "Tokens per sequence T (the model's n_positions)", DefaultValueFactory = _ => 16 };
        var vocab = new Option<int>("--vocab") { Description = "Symbols of the induction tasks (2..52)", DefaultValueFactory = _ => 16 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights and the data; the same seed gives the same losses", DefaultValueFactory = _ => 1 };
        var every = new Option<int>("--checkpoint-every") { Description = "Write a checkpoint (and pictures) every N steps, and after the last (with --out)", DefaultValueFactory = _ => 100 };
        var outDir = new Option<string?>("--out") { Description = "Folder for checkpoints, the loss curve and attention pictures (new, empty, or an earlier heed train output)" };
        var resume = new Option<string?>("--resume") { Description = "Continue from a checkpoint folder, or from the latest checkpoint of a --out folder; the model and optimizer settings are the checkpoint's" };
        var layer = new Option<int?>("--layer") { Description = "Layer of the attention picture (default: the task's best head, else the last layer)" };
        var head = new Option<int?>("--head") { Description = "Head of the attention picture (default: the task's best head, else 0)" };
        var threads = CommonOptions.Threads("Threads for the matrix products and attention (the losses do not depend on it)");
        var command = new Command("train", "Train a small GPT-2 on a task and watch its attention form; checkpoints load with 'heed explain --model'.")
        {
            task, text, steps, batch, lr, weightDecay, clip, layers, heads, width, context, vocab, seed, every, outDir, resume, layer, head, threads,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter error = parse.InvocationConfiguration.Error, output = parse.InvocationConfiguration.Output;
            int checkpointEvery = parse.GetValue(every);
            if (checkpointEvery < 1) throw new HeedException($"--checkpoint-every {checkpointEvery}: expected at least 1");
            int threadCount = parse.GetValue(threads) ?? Environment.ProcessorCount;
            string? outPath = parse.GetValue(outDir);
            string? resumePath = parse.GetValue(resume);
            if (parse.GetValue(text) is string t && !File.Exists(t)) throw new HeedException($"--text {t}: no such file");

            Trainer trainer;
            if (resumePath is not null)
            {
                trainer = Trainer.Resume(TrainingOutput.CheckpointOf(resumePath), parse.GetValue(steps), threadCount, parse.GetValue(text));
            }
            else
            {
                var options = new TrainingOptions
                {
                    Task = parse.GetValue(task)!,
                    TextPath = parse.GetValue(text) is string path ? Path.GetFullPath(path) : null,
                    Steps = parse.GetValue(steps) ?? 500,
                    BatchSize = parse.GetValue(batch),
                    LearningRate = parse.GetValue(lr),
                    WeightDecay = parse.GetValue(weightDecay),
                    Clip = parse.GetValue(clip),
                    Layers = parse.GetValue(layers),
                    Heads = parse.GetValue(heads),
                    Width = parse.GetValue(width),
                    Context = parse.GetValue(context),
                    VocabSize = parse.GetValue(vocab),
                    Seed = parse.GetValue(seed),
                    Threads = threadCount,
                };
                if (options.Task == "chars" && options.TextPath is null) throw new HeedException("--task chars needs --text FILE");
                if (options.Task != "chars" && options.TextPath is not null) throw new HeedException($"--text is for --task chars, not {options.Task}");
                trainer = Trainer.Create(options);
            }

            int? pictureLayer = parse.GetValue(layer), pictureHead = parse.GetValue(head);
            if (pictureLayer is int pl && (pl < 0 || pl >= trainer.Options.Layers)) throw new HeedException($"--layer {pl}: expected 0..{trainer.Options.Layers - 1}");
            if (pictureHead is int ph && (ph < 0 || ph >= trainer.Options.Heads)) throw new HeedException($"--head {ph}: expected 0..{trainer.Options.Heads - 1}");
            if (outPath is not null) TrainingOutput.Prepare(outPath, resumePath is not null);

            using var cancel = new CancellationTokenSource();
            void OnCancel(object? sender, ConsoleCancelEventArgs e)
            {
                e.Cancel = true; // finish the step, write a checkpoint, then exit
                cancel.Cancel();
            }

            Console.CancelKeyPress += OnCancel;
            string? lastCheckpoint = null;
            bool finished;
            using (var line = new ProgressLine(error))
            {
                var progress = new SynchronousProgress(p => line.Show(
                    string.Create(CultureInfo.InvariantCulture, $"heed: step {p.Step}/{p.Steps}  loss {p.Loss:F4}  |g| {p.GradNorm:F3}  {p.TokensPerSecond:F0} tok/s"),
                    force: p.Step == p.Steps));
                try
                {
                    finished = trainer.Run(progress, checkpointEvery, outPath is null ? null : tr => lastCheckpoint = TrainingOutput.WriteCheckpoint(tr, outPath, pictureLayer, pictureHead), cancel.Token);
                }
                finally
                {
                    Console.CancelKeyPress -= OnCancel;
                }
            }

            if (!finished && outPath is not null && trainer.Step > 0) lastCheckpoint = TrainingOutput.WriteCheckpoint(trainer, outPath, pictureLayer, pictureHead);
            TrainingProbe probe = trainer.Probe();
            string score = probe.Score is { } s ? string.Create(CultureInfo.InvariantCulture, $"; {trainer.Task.ScoreName}: {s.Score:F3} (layer {s.Layer}, head {s.Head})") : "";
            string loss = trainer.Losses.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $"loss {trainer.Losses[^1]:F4}") : "no steps taken";
            output.WriteLine($"step {trainer.Step}: {loss}{score}");
            if (lastCheckpoint is not null) output.WriteLine($"checkpoint {lastCheckpoint}");
            if (!finished)
            {
                error.WriteLine(lastCheckpoint is not null
                    ? $"heed: cancelled after step {trainer.Step}; the last checkpoint is {lastCheckpoint} (continue with --resume {outPath})"
                    : $"heed: cancelled after step {trainer.Step}; nothing was written (no --out)");
                return 130;
            }

            return 0;
        }));
        return command;
    }

    // Progress<T> posts to the thread pool; the trainer's progress is reported on its own thread, in order.
    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
