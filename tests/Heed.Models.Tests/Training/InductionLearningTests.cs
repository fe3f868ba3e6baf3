using System.Globalization;
using Heed.Models.Training;
using Xunit.Abstractions;

namespace Heed.Models.Tests.Training;

/// <summary>Training that must learn: the induction task, with a fixed seed and step budget.</summary>
public sealed class InductionLearningTests(ITestOutputHelper output)
{
    [Fact]
    public void Induction_task_reaches_its_loss_and_an_induction_head_forms()
    {
        var options = new TrainingOptions
        {
            Task = "induction", Steps = int.Parse(Environment.GetEnvironmentVariable("HEED_X_STEPS") ?? "300", CultureInfo.InvariantCulture), BatchSize = 16, LearningRate = double.Parse(Environment.GetEnvironmentVariable("HEED_X_LR") ?? "0.003", CultureInfo.InvariantCulture), WeightDecay = 0.01, Clip = 1.0,
            Layers = 2, Heads = int.Parse(Environment.GetEnvironmentVariable("HEED_X_HEADS") ?? "4", CultureInfo.InvariantCulture), Width = int.Parse(Environment.GetEnvironmentVariable("HEED_X_WIDTH") ?? "32", CultureInfo.InvariantCulture), Context = int.Parse(Environment.GetEnvironmentVariable("HEED_X_CTX") ?? "24", CultureInfo.InvariantCulture), VocabSize = int.Parse(Environment.GetEnvironmentVariable("HEED_X_V") ?? "16", CultureInfo.InvariantCulture), Seed = 7, Threads = 2,
        };
        var trainer = Trainer.Create(options);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        trainer.Run(new Progress(p => { }));
        TrainingProbe probe = trainer.Probe();
        for (int s = 0; s < trainer.Losses.Count; s += 20) output.WriteLine($"step {s + 1}: {trainer.Losses[s]:F3}");
        output.WriteLine($"time {watch.Elapsed.TotalSeconds:F1} s, score {probe.Score}");
        Assert.Fail("experiment");
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
