using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>
/// The induction task's data and its score: every counted prediction is the symbol after an earlier occurrence at a distance
/// that varies inside a sequence, a perfect induction head scores 1, and a head that attends a fixed distance back does not.
/// </summary>
public sealed class InductionTaskTests
{
    [Theory]
    [InlineData(8, 6)]
    [InlineData(16, 16)]
    [InlineData(32, 16)]
    [InlineData(32, 52)]
    [InlineData(64, 26)]
    public void Every_counted_target_is_the_symbol_after_the_earlier_occurrence_and_the_distances_vary(int length, int vocab)
    {
        var task = new InductionTask(vocab);
        const int Batch = 32;
        int[] tokens = new int[Batch * length], targets = new int[Batch * length];
        task.Sample(new TrainingRandom(11), tokens, targets, Batch, length);
        var distances = new HashSet<int>();
        int counted = 0;
        for (int b = 0; b < Batch; b++)
        {
            ReadOnlySpan<int> seq = tokens.AsSpan(b * length, length), target = targets.AsSpan(b * length, length);
            for (int t = 0; t < length; t++)
            {
                if (target[t] == CrossEntropyLoss.Ignore) continue;
                counted++;
                Assert.Equal(seq[t + 1], target[t]);

                // the most recent earlier occurrence of seq[t] is followed by the target
                int j = seq[..t].LastIndexOf(seq[t]);
                Assert.True(j >= 0, $"sequence {b}, position {t}: {seq[t]} did not occur before");
                Assert.Equal(target[t], seq[j + 1]);
                distances.Add(t - j);
            }
        }

        Assert.True(counted >= Batch * length / 4, $"{counted} counted predictions of {Batch * length}");
        Assert.Equal(Math.Min(Math.Max(2, length / 4), vocab) - 1, distances.Count); // m = 2..min(max(2, T/4), V)
    }

    [Fact]
    public void A_perfect_induction_head_scores_1_and_a_fixed_distance_head_or_uniform_attention_do_not()
    {
        const int Length = 32;
        int[] tokens = new InductionTask(16).Probe(Length).Tokens;
        IReadOnlyList<(int Query, int Key)> pairs = InductionTask.Pairs(tokens);
        Assert.NotEmpty(pairs);

        // the induction head: each query splits its weight over the keys after its earlier occurrences (itself if none)
        double[] induction = new double[Length * Length], uniform = new double[Length * Length];
        for (int i = 0; i < Length; i++)
        {
            int[] keys = [.. pairs.Where(p => p.Query == i).Select(p => p.Key)];
            if (keys.Length == 0) keys = [i];
            foreach (int key in keys) induction[(i * Length) + key] = 1.0 / keys.Length;
            for (int j = 0; j <= i; j++) uniform[(i * Length) + j] = 1.0 / (i + 1);
        }

        Assert.Equal(1, InductionTask.Score(induction, Length, pairs), 12);
        Assert.True(InductionTask.Score(uniform, Length, pairs) < 0.15, $"uniform: {InductionTask.Score(uniform, Length, pairs):F3}");

        // the best head that attends a fixed distance back (what the fixed-half copy task let a model learn instead), over 16
        // sequences of the task: each distance is the repeat's in one segment length of three
        var task = new InductionTask(16);
        var random = new TrainingRandom(3);
        int[][] sequences = [.. Enumerable.Range(0, 16).Select(_ =>
        {
            int[] sequence = new int[Length], targets = new int[Length];
            task.Sample(random, sequence, targets, 1, Length);
            return sequence;
        })];
        double best = 0;
        for (int distance = 1; distance < Length; distance++)
        {
            double[] fixedDistance = new double[Length * Length];
            for (int i = 0; i < Length; i++) fixedDistance[(i * Length) + Math.Max(0, i - distance)] = 1;
            best = Math.Max(best, sequences.Average(s => InductionTask.Score(fixedDistance, Length, InductionTask.Pairs(s))));
        }

        Assert.True(best < 0.5, $"a fixed-distance head scores {best:F3} on the probe; expected below 0.5");
    }
}
