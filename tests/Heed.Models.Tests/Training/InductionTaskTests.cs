using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>
/// The induction tasks' data and their score: in induction-shifted every counted prediction is the symbol after the earlier
/// occurrence at a distance that varies from sequence to sequence, in induction the repeat is the first half; a perfect induction
/// head scores 1, and on induction-shifted a head that attends a fixed distance back does not.
/// </summary>
public sealed class InductionTaskTests
{
    [Theory]
    [InlineData(8, 6)]
    [InlineData(16, 16)]
    [InlineData(24, 32)]
    [InlineData(32, 52)]
    [InlineData(64, 26)]
    public void Shifted_every_counted_target_is_the_symbol_after_the_earlier_occurrence_and_the_distances_vary(int length, int vocab)
    {
        var task = new InductionTask(vocab, shifted: true);
        const int Batch = 32;
        int[] tokens = new int[Batch * length], targets = new int[Batch * length];
        task.Sample(new TrainingRandom(11), tokens, targets, Batch, length);
        var distances = new HashSet<int>();
        for (int b = 0; b < Batch; b++)
        {
            ReadOnlySpan<int> seq = tokens.AsSpan(b * length, length), target = targets.AsSpan(b * length, length);
            int first = target.IndexOfAnyExcept(CrossEntropyLoss.Ignore), last = target.LastIndexOfAnyExcept(CrossEntropyLoss.Ignore);
            Assert.True(first > 0, $"sequence {b} has no counted prediction");

            // the repeat runs from first to last + 1, at distance m back from the pattern, m of T/4..T/2
            int m = last + 2 - first;
            Assert.InRange(m, Math.Max(1, length / 4), length / 2);
            distances.Add(m);
            for (int t = first; t <= last; t++)
            {
                Assert.Equal(seq[t + 1], target[t]);
                Assert.Equal(seq[t - m], seq[t]);
                Assert.Equal(seq[t - m + 1], target[t]);

                // with at least T symbols, the earlier occurrence is the only one
                if (vocab >= length) Assert.Equal(t - m, seq[..t].IndexOf(seq[t]));
            }
        }

        Assert.True(distances.Count >= 3, $"{distances.Count} distinct repeat distances in {Batch} sequences");
    }

    [Fact]
    public void Induction_repeats_the_first_half()
    {
        var task = new InductionTask(16);
        const int Batch = 8, Length = 16;
        int[] tokens = new int[Batch * Length], targets = new int[Batch * Length];
        task.Sample(new TrainingRandom(5), tokens, targets, Batch, Length);
        for (int b = 0; b < Batch; b++)
        {
            ReadOnlySpan<int> seq = tokens.AsSpan(b * Length, Length), target = targets.AsSpan(b * Length, Length);
            Assert.True(seq[..8].SequenceEqual(seq[8..]));
            Assert.Equal(8, seq[..8].ToArray().Distinct().Count());
            for (int t = 0; t < Length; t++) Assert.Equal(t is >= 8 and < 15 ? seq[t + 1] : CrossEntropyLoss.Ignore, target[t]);
        }
    }

    [Fact]
    public void A_perfect_induction_head_scores_1_and_a_fixed_distance_head_or_uniform_attention_do_not()
    {
        const int Length = 32;
        int[] tokens = new InductionTask(52, shifted: true).Probe(Length).Tokens;
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

        // the best head that attends a fixed distance back (what the induction task lets a model learn instead), over 16
        // sequences of induction-shifted: each distance is the repeat's in one sequence of the nine lengths
        var task = new InductionTask(52, shifted: true);
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

        Assert.True(best < 0.5, $"a fixed-distance head scores {best:F3} on induction-shifted; expected below 0.5");
    }
}
