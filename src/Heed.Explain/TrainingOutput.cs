using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Heed.Explain.Pictures;
using Heed.Models.Training;

namespace Heed.Explain;

/// <summary>
/// The output folder of a training run (<c>heed train --out</c>; a server can write the same): checkpoints/step-NNNNNN/ (a
/// Hugging Face GPT-2 folder plus the optimizer state, see <see cref="Trainer.SaveCheckpoint"/>), loss.svg/.png, and per
/// checkpoint the probe's attention pictures under attention/, with a marker file (<see cref="Marker"/>) naming the latest.
/// </summary>
public static class TrainingOutput
{
    /// <summary>The file that marks a folder as a training output (so a later run may write into it again).</summary>
    public const string Marker = "heed-training.json";

    /// <summary>The checkpoint folder to resume from: the folder itself, or the latest checkpoint a training output names.</summary>
    public static string CheckpointOf(string path)
    {
        if (File.Exists(Path.Combine(path, Trainer.StateFile))) return path;
        string marker = Path.Combine(path, Marker);
        if (!File.Exists(marker)) throw new HeedException($"--resume {path}: neither a checkpoint (no {Trainer.StateFile}) nor a heed train output (no {Marker})");
        string? latest;
        try
        {
            latest = (string?)JsonNode.Parse(File.ReadAllText(marker))?["latest"];
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new HeedException($"--resume {path}: {Marker} is damaged: {ex.Message}", ex);
        }

        if (latest is null) throw new HeedException($"--resume {path}: {Marker} names no checkpoint yet");
        return Path.Combine(path, latest);
    }

    /// <summary>
    /// Readies an output folder: a new or empty folder is taken; an earlier training output is taken too (a fresh run removes its
    /// checkpoints and pictures, a resumed run adds to them); any other non-empty folder is refused, so a user's files are never
    /// overwritten. The folder is marked as a training output at once.
    /// </summary>
    /// <exception cref="HeedException">The path is a file, or a non-empty folder that is not a training output.</exception>
    public static void Prepare(string path, bool resuming)
    {
        if (File.Exists(path)) throw new HeedException($"--out {path}: is a file; expected a folder");
        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
        {
            if (!File.Exists(Path.Combine(path, Marker)))
            {
                throw new HeedException($"--out {path}: the folder is not empty and is not a heed train output; choose a new or empty folder");
            }

            if (!resuming)
            {
                foreach (string folder in (string[])["checkpoints", "attention"])
                {
                    if (Directory.Exists(Path.Combine(path, folder))) Directory.Delete(Path.Combine(path, folder), recursive: true);
                }
            }
        }

        Directory.CreateDirectory(path);
        string marker = Path.Combine(path, Marker);
        if (!File.Exists(marker))
        {
            // marked before the first checkpoint, so a run that fails early can write here again
            File.WriteAllText(marker, new JsonObject { ["format"] = "heed-training" }.ToJsonString());
        }
    }

    /// <summary>
    /// Writes checkpoints/step-NNNNNN (whole, through a temporary folder), attention/step-NNNNNN-*.svg/png for the probe (the
    /// heatmap of <paramref name="layer"/>, <paramref name="head"/>, by default the task's best head, and the model view), the
    /// loss curve and the marker naming the latest checkpoint; returns the checkpoint folder.
    /// </summary>
    public static string WriteCheckpoint(Trainer trainer, string outPath, int? layer, int? head)
    {
        string name = string.Create(CultureInfo.InvariantCulture, $"step-{trainer.Step:D6}");
        string checkpoints = Path.Combine(outPath, "checkpoints"), attention = Path.Combine(outPath, "attention");
        Directory.CreateDirectory(checkpoints);
        Directory.CreateDirectory(attention);
        string final = Path.Combine(checkpoints, name);
        string temporary = Path.Combine(checkpoints, "." + name + ".partial");
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        trainer.SaveCheckpoint(temporary);
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(temporary, final);

        TrainingProbe probe = trainer.Probe();
        var set = new AttentionSet(probe.Labels, probe.Labels, probe.Weights, probe.Scores) { Source = name };
        int l = layer ?? probe.Score?.Layer ?? trainer.Options.Layers - 1;
        int h = head ?? (layer is null ? probe.Score?.Head : null) ?? 0;
        string title = $"{trainer.Task.Name}, step {trainer.Step}: layer {l}, head {h}";
        string[] notes = probe.Score is { } s
            ? [string.Create(CultureInfo.InvariantCulture, $"{trainer.Task.ScoreName}: best {s.Score:F3} at layer {s.Layer}, head {s.Head}; this head {ScoreOf(trainer, probe, l, h):F3}")]
            : [];
        Write(Path.Combine(attention, string.Create(CultureInfo.InvariantCulture, $"{name}-layer{l}-head{h}")), AttentionPictures.Heatmap(set, l, h, title, notes));
        Write(Path.Combine(attention, $"{name}-model-view"), AttentionPictures.ModelView(set));
        TrainingOptions o = trainer.Options;
        Write(Path.Combine(outPath, "loss"), TrainingPictures.LossCurve(trainer.Losses, string.Create(CultureInfo.InvariantCulture, $"heed train --task {o.Task}: {o.Layers} layers, {o.Heads} heads, width {o.Width}, context {o.Context}, seed {o.Seed}")));

        var marker = new JsonObject
        {
            ["format"] = "heed-training",
            ["task"] = o.Task,
            ["step"] = trainer.Step,
            ["latest"] = Path.Combine("checkpoints", name).Replace('\\', '/'),
        };
        File.WriteAllText(Path.Combine(outPath, Marker), marker.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return final;
    }

    private static double ScoreOf(Trainer trainer, TrainingProbe probe, int layer, int head)
    {
        double[][][] only = [[probe.Weights[layer][head]]];
        return trainer.Task.AttentionScore(only, probe.Tokens.Length)?.Score ?? double.NaN;
    }

    private static void Write(string pathWithoutExtension, Scene scene)
    {
        File.WriteAllText(pathWithoutExtension + ".svg", SvgWriter.Write(scene));
        File.WriteAllBytes(pathWithoutExtension + ".png", PngRenderer.Render(scene));
    }
}
