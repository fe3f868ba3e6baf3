using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>
/// Training that must learn: the induction task (segments that repeat at a distance that varies inside a sequence) with a fixed
/// seed and step budget, and what its attention shows.
/// </summary>
public sealed class InductionLearningTests
{
    private static readonly TrainingOptions Options = new()
    {
        Task = "induction",
        Steps = 1000,
        BatchSize = 16,
        LearningRate = 3e-3,
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

    /// <summary>
    /// 2 layers, 2 heads, width 32, T = 16 (segments of 2..4 symbols, each repeated at once), V = 16, B = 16, AdamW lr 3e-3,
    /// seed 7: within 1000 steps the loss over the repeats falls from ln 16 = 2.77 to below 1.0.
    /// </summary>
    [Fact]
    public void Induction_task_reaches_its_loss_on_the_repeats()
    {
        var trainer = Trainer.Create(Options);
        Assert.True(trainer.Run());
        double first = trainer.Losses[0], last = trainer.Losses.TakeLast(50).Average();
        Assert.True(Math.Abs(first - Math.Log(16)) < 0.2, $"the first loss {first:F3} should be near ln 16 = {Math.Log(16):F3}");
        Assert.True(last < 1.0, $"mean loss of the last 50 of {Options.Steps} steps: {last:F4}; expected below 1.0");
    }

    /// <summary>
    /// The induction score of the last layer's best head, averaged over 16 sequences of the task, against the same head on the
    /// same sequences shuffled (the same query and key positions, the repeats destroyed: a head that attends by position scores
    /// the same on both, an induction head only on the first). Uniform attention scores about 0.1.
    /// </summary>
    [Fact(Skip = "no induction head forms within a CI budget yet: after 1000 steps (and after 8000 at T = 32) the last layer's heads stay near uniform (score about 0.1), while the loss falls through other means; see the README's heed train section")]
    public void An_induction_head_forms_in_the_last_layer()
    {
        var trainer = Trainer.Create(Options);
        Assert.True(trainer.Run());
        (double score, double control, int head) = Measure(trainer, 16);
        Assert.True(score > 0.5, $"induction score {score:F3} (layer {Options.Layers - 1}, head {head}); expected above 0.5");
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
