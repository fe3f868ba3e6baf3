using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>
/// Training that must learn, with a fixed seed and step budget: the induction task (repeated halves, solved by a head that
/// attends a fixed distance back) and the induction-shifted task (a repeat at a distance that varies, solved only by an
/// induction head).
/// </summary>
public sealed class InductionLearningTests
{
    /// <summary>
    /// 2 layers, 2 heads, width 32, T = 16 (8 random symbols of 16, then the same 8 again), B = 16, AdamW lr 1e-2, seed 7:
    /// within 150 steps the loss over the predictable positions (the repeat) falls from ln 16 = 2.77 to below 0.1, and on the
    /// probe the best head puts more than 0.7 of its weight, on average, on the token right after the earlier occurrence of the
    /// current token (the induction score; uniform causal attention would give about 0.1). The repeat is always 8 back, so this
    /// head may attend by position alone.
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

    /// <summary>
    /// induction-shifted: the induction score of the last layer's best head, averaged over 16 sequences of the task, against the
    /// same head on the same sequences shuffled (the same query and key positions, the repeats destroyed: a head that attends by
    /// position scores the same on both, an induction head only on the first). Uniform attention scores about 0.06 here.
    /// </summary>
    [Fact(Skip = "no induction head forms on induction-shifted within a CI budget yet: layer 0 grows no previous-token head and the last layer stays near zero on the repeats (see the README's heed train section)")]
    public void An_induction_head_forms_in_the_last_layer_on_the_shifted_task()
    {
        var options = new TrainingOptions
        {
            Task = "induction-shifted",
            Steps = 3000,
            BatchSize = 32,
            LearningRate = 3e-3,
            WeightDecay = 0,
            Clip = 1.0,
            Layers = 2,
            Heads = 2,
            Width = 64,
            Context = 24,
            VocabSize = 32,
            Seed = 7,
            Threads = 2,
        };
        var trainer = Trainer.Create(options);
        Assert.True(trainer.Run());
        (double score, double control, int head) = Measure(trainer, 16);
        Assert.True(score > 0.5, $"induction score {score:F3} (layer {options.Layers - 1}, head {head}); expected above 0.5");
        Assert.True(control < 0.2, $"the same head on shuffled sequences: {control:F3}; expected below 0.2");
    }

    // (score, control, head) of the last layer's best head over `count` sequences of the task drawn from a fixed seed
    private static (double Score, double Control, int Head) Measure(Trainer trainer, int count)
    {
        int length = trainer.Options.Context, heads = trainer.Options.Heads, layer = trainer.Options.Layers - 1;
        var random = new TrainingRandom(12345);
        double[] score = new double[heads], control = new double[heads];
        int[] tokens = new int[length], targets = new int[length];
        for (int n = 0; n < count; n++)
        {
            trainer.Task.Sample(random, tokens, targets, 1, length);
            IReadOnlyList<(int Query, int Key)> pairs = InductionTask.Pairs(tokens);
            int[] shuffled = (int[])tokens.Clone();
            for (int i = length - 1; i > 0; i--)
            {
                int j = random.NextInt(i + 1);
                (shuffled[i], shuffled[j]) = (shuffled[j], shuffled[i]);
            }

            trainer.Model.Forward(tokens, 1, length, captureWeights: true);
            for (int h = 0; h < heads; h++) score[h] += InductionTask.Score(trainer.Model.AttentionWeights![layer][h], length, pairs) / count;
            trainer.Model.Forward(shuffled, 1, length, captureWeights: true);
            for (int h = 0; h < heads; h++) control[h] += InductionTask.Score(trainer.Model.AttentionWeights![layer][h], length, pairs) / count;
        }

        int best = Array.IndexOf(score, score.Max());
        return (score[best], control[best], best);
    }
}
