using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>Training that must learn: the induction task with a fixed seed and step budget.</summary>
public sealed class InductionLearningTests
{
    /// <summary>
    /// 2 layers, 2 heads, width 32, T = 16 (8 random symbols of 16, then the same 8 again), B = 16, AdamW lr 1e-2, seed 7:
    /// within 150 steps the loss over the predictable positions (the repeat) falls from ln 16 = 2.77 to below 0.1, and on the
    /// probe the best head puts more than 0.7 of its weight, on average, on the token right after the earlier occurrence of the
    /// current token (the induction score; uniform causal attention would give about 0.1).
    /// </summary>
    [Fact]
    public void Induction_task_reaches_its_loss_and_an_induction_head_forms()
    {
        var options = new TrainingOptions
        {
            Task = "induction",
            Steps = 150,
            BatchSize = 16,
            LearningRate = 1e-2,
            WeightDecay = 0.01,
            Clip = 1.0,
            Layers = 2,
            Heads = 2,
            Width = 32,
            Context = 16,
            VocabSize = 16,
            Seed = 7,
            Threads = 2,
        };
        var trainer = Trainer.Create(options);
        Assert.True(trainer.Run());
        double first = trainer.Losses[0], last = trainer.Losses.TakeLast(10).Average();
        Assert.True(Math.Abs(first - Math.Log(16)) < 0.2, $"the first loss {first:F3} should be near ln 16 = {Math.Log(16):F3}");
        Assert.True(last < 0.1, $"mean loss of the last 10 of 150 steps: {last:F4}; expected below 0.1");

        TrainingProbe probe = trainer.Probe();
        (double score, int layer, int head) = probe.Score!.Value;
        Assert.True(score > 0.7, $"induction score {score:F3} (layer {layer}, head {head}); expected above 0.7");

        // the score read back by hand from the probe: query i of the repeat on key i − 8 + 1
        double sum = 0;
        for (int i = 8; i < 16; i++) sum += probe.Weights[layer][head][(i * 16) + (i - 7)];
        Assert.Equal(score, sum / 8, 12);
        Assert.Equal(probe.Tokens[..8], probe.Tokens[8..]);
    }
}
