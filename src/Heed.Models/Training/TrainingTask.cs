using System.Security.Cryptography;
using System.Text;

namespace Heed.Models.Training;

/// <summary>
/// What a training run learns: the vocabulary it is saved with, batches of (tokens, next-token targets), and a probe sequence
/// whose attention is drawn at every checkpoint. Tasks draw only from the trainer's <see cref="TrainingRandom"/>, so a run is
/// reproducible from its seed and resumable from a checkpoint.
/// </summary>
public abstract class TrainingTask
{
    /// <summary>The task's name (<c>seed</c>, <c>induction</c>, <c>chars</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The vocabulary (V = its count) saved as the checkpoint's tokenizer.</summary>
    public abstract TrainingVocabulary Vocabulary { get; }

    /// <summary>The probe's token ids (at most the context) and their labels, drawn in the attention pictures.</summary>
    public abstract (int[] Tokens, string[] Labels) Probe(int length);

    /// <summary>
    /// Fills one batch: tokens [B, T] and targets [B, T], target (b, t) being the token after (b, t) or
    /// <see cref="CrossEntropyLoss.Ignore"/> where the task does not count the prediction.
    /// </summary>
    public abstract void Sample(TrainingRandom random, int[] tokens, int[] targets, int batch, int length);

    /// <summary>
    /// The task's measure of the pattern it should form in the probe's attention, for the best layer and head: weights
    /// [L][H][T·T] of the probe → (score, layer, head); null when the task has none.
    /// </summary>
    public virtual (double Score, int Layer, int Head)? AttentionScore(double[][][] weights, int length) => null;

    /// <summary>What the score means, in a few words.</summary>
    public virtual string ScoreName => "";

    /// <summary>The task of a name: <c>seed</c>, <c>induction</c> or <c>induction-shifted</c> (V symbols), or <c>chars</c> (the UTF-8 bytes of <paramref name="text"/>).</summary>
    /// <exception cref="HeedException">The name is unknown, or chars has no text.</exception>
    public static TrainingTask Create(string name, int vocabSize, byte[]? text) => name switch
    {
        "seed" => new SeedSentencesTask(),
        "induction" => new InductionTask(vocabSize),
        "induction-shifted" => new InductionTask(vocabSize, shifted: true),
        "chars" => new CharactersTask(text ?? throw new HeedException("task chars needs a text (--text FILE)")),
        _ => throw new HeedException($"task {name}: expected seed, induction, induction-shifted or chars"),
    };

    internal static (double Score, int Layer, int Head)? Best(double[][][] weights, Func<double[], double> score)
    {
        (double Score, int Layer, int Head)? best = null;
        for (int l = 0; l < weights.Length; l++)
        {
            for (int h = 0; h < weights[l].Length; h++)
            {
                double s = score(weights[l][h]);
                if (best is null || s > best.Value.Score) best = (s, l, h);
            }
        }

        return best;
    }
}

/// <summary>
/// The induction tasks: random symbols in which runs of symbols repeat, so that a symbol of a repeat is predicted by finding its
/// earlier occurrence and copying the symbol that followed it. What is counted is only the predictions inside a repeat.
/// <para>
/// Task <c>induction</c> (<see cref="Shifted"/> false) is the classic copy task: T/2 random symbols (no symbol twice while the V
/// symbols last) followed by the same T/2 symbols. The repeat is always T/2 back, so a head that attends a fixed T/2 − 1
/// positions back solves it from the positions alone (a positional head); in small models that is what forms, within a few
/// hundred steps.
/// </para>
/// <para>
/// Task <c>induction-shifted</c> (<see cref="Shifted"/> true) draws T symbols without putting them back (distinct while the V
/// symbols last), then copies a block of m of them, m drawn per sequence from T/4..T/2, right after itself at a random start.
/// The distance back to the earlier occurrence (m) changes from sequence to sequence, so no head that attends a fixed distance
/// back predicts the repeat; and since every other symbol also appears once, neither does "the earliest symbol not yet
/// repeated" (which solves segments repeated back to back). Only an induction head does (Olsson et al. 2022, "In-context
/// Learning and Induction Heads": a previous-token head writes each position's preceding symbol into it, and a head in a later
/// layer matches the current symbol against that, then copies the symbol it finds).
/// </para>
/// Symbols are the letters a–z, A–Z.
/// </summary>
public sealed class InductionTask : TrainingTask
{
    private const string Symbols = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    /// <summary>A task over <paramref name="vocabSize"/> symbols (2..52).</summary>
    /// <exception cref="HeedException">The size is out of range.</exception>
    /// <param name="vocabSize">V, the number of symbols (2..52).</param>
    /// <param name="shifted">A block repeated at a distance that varies (<c>induction-shifted</c>) instead of repeated halves (see the class).</param>
    public InductionTask(int vocabSize, bool shifted = false)
    {
        if (vocabSize is < 2 or > 52) throw new HeedException($"induction vocabulary {vocabSize}: expected 2..52 symbols");
        Vocabulary = new TrainingVocabulary(Encoding.ASCII.GetBytes(Symbols[..vocabSize]));
        Shifted = shifted;
    }

    /// <summary>Whether the task is <c>induction-shifted</c>: a block repeated at a distance that varies from sequence to sequence.</summary>
    public bool Shifted { get; }

    /// <inheritdoc />
    public override string Name => Shifted ? "induction-shifted" : "induction";

    /// <inheritdoc />
    public override TrainingVocabulary Vocabulary { get; }

    /// <inheritdoc />
    public override string ScoreName => "induction score (mean weight from a symbol to the symbols after its earlier occurrences)";

    /// <summary>
    /// The probe, drawn from a fixed seed so it does not depend on the run's seed: for <c>induction</c> a pattern of T/2 symbols
    /// from position 0 and its repeat (the whole sequence, T even), for <c>induction-shifted</c> one sequence of the task.
    /// </summary>
    public override (int[] Tokens, string[] Labels) Probe(int length)
    {
        int[] tokens = new int[length], targets = new int[length];
        var random = new TrainingRandom(0x5EED);
        if (Shifted)
        {
            Sample(random, tokens, targets, 1, length);
        }
        else
        {
            int[] pool = [.. Enumerable.Range(0, Vocabulary.Count)];
            FillHalves(random, tokens, targets, pool);
        }

        return (tokens, [.. tokens.Select(t => Vocabulary.Tokens[t])]);
    }

    /// <inheritdoc />
    public override void Sample(TrainingRandom random, int[] tokens, int[] targets, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(targets);
        int v = Vocabulary.Count;
        Span<int> pool = stackalloc int[v];
        for (int b = 0; b < batch; b++)
        {
            Span<int> seq = tokens.AsSpan(b * length, length), target = targets.AsSpan(b * length, length);
            target.Fill(CrossEntropyLoss.Ignore);
            for (int i = 0; i < v; i++) pool[i] = i;
            if (!Shifted)
            {
                random.NextInt(1); // the draw of the pattern's length (always T/2), kept so a seed gives the batches it gave before
                FillHalves(random, seq, target, pool);
                continue;
            }

            // symbols drawn without putting them back (refilled when the V symbols run out), then a block of m of them, m from
            // T/4..T/2, copied right after itself at a random start
            int used = 0;
            for (int t = 0; t < length; t++, used++) seq[t] = Draw(random, pool, used);
            int shortest = Math.Max(1, length / 4), longest = Math.Max(shortest, length / 2);
            int m = shortest + random.NextInt(longest - shortest + 1);
            int start = random.NextInt(length - (2 * m) + 1);
            seq.Slice(start, m).CopyTo(seq.Slice(start + m, m));
            for (int t = start + m; t + 1 < start + (2 * m); t++) target[t] = seq[t + 1];
        }
    }

    /// <summary>
    /// The (query, key) pairs an induction head attends: for every position i, each key j + 1 &lt; i such that token j equals
    /// token i, the position right after an earlier occurrence of the current token.
    /// </summary>
    /// <param name="tokens">The T token ids.</param>
    public static IReadOnlyList<(int Query, int Key)> Pairs(ReadOnlySpan<int> tokens)
    {
        var pairs = new List<(int Query, int Key)>();
        for (int i = 0; i < tokens.Length; i++)
        {
            for (int j = 0; j + 1 < i; j++)
            {
                if (tokens[j] == tokens[i]) pairs.Add((i, j + 1));
            }
        }

        return pairs;
    }

    /// <summary>
    /// The induction score of one head: the weight [T·T] (row = query) that each query with pairs puts on its keys, summed per
    /// query and averaged over the queries. 1 is a perfect induction head; a head that attends a fixed distance back scores only
    /// where that distance happens to be the repeat's.
    /// </summary>
    /// <param name="weights">The head's probabilities [T·T].</param>
    /// <param name="length">T.</param>
    /// <param name="pairs">The (query, key) pairs, usually <see cref="Pairs"/> of the tokens the weights were taken on.</param>
    public static double Score(double[] weights, int length, IReadOnlyList<(int Query, int Key)> pairs)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(pairs);
        double sum = 0;
        int queries = 0, last = -1;
        foreach ((int query, int key) in pairs)
        {
            sum += weights[(query * length) + key];
            if (query != last) queries++;
            last = query;
        }

        return queries == 0 ? 0 : sum / queries;
    }

    /// <inheritdoc />
    public override (double Score, int Layer, int Head)? AttentionScore(double[][][] weights, int length)
    {
        IReadOnlyList<(int Query, int Key)> pairs = Pairs(Probe(length).Tokens);
        return pairs.Count == 0 ? null : Best(weights, w => Score(w, length, pairs));
    }

    // random symbols, then a pattern of T/2 distinct symbols (while they last) from position 0, repeated at T/2; the pool holds
    // 0..V−1 on entry and symbols are drawn from it by a partial Fisher–Yates shuffle; the repeat's predictions are counted
    private static void FillHalves(TrainingRandom random, Span<int> seq, Span<int> target, Span<int> pool)
    {
        int length = seq.Length, m = length / 2, v = pool.Length;
        for (int t = 0; t < length; t++) seq[t] = random.NextInt(v);
        for (int t = 0; t < m; t++)
        {
            int left = v - (t % v);
            int pick = random.NextInt(left);
            seq[t] = seq[m + t] = pool[pick];
            (pool[pick], pool[left - 1]) = (pool[left - 1], pool[pick]);
        }

        for (int t = m; t + 1 < 2 * m; t++) target[t] = seq[t + 1];
    }

    // the next symbol of a partial Fisher–Yates shuffle of the pool, `used` symbols taken so far; a new pass starts when it runs out
    private static int Draw(TrainingRandom random, Span<int> pool, int used)
    {
        int left = pool.Length - (used % pool.Length);
        int pick = random.NextInt(left);
        (pool[pick], pool[left - 1]) = (pool[left - 1], pool[pick]);
        return pool[left - 1];
    }
}

/// <summary>
/// The seed's sentence, "The cat sat on the mat.", as a family: "The {animal} sat on the {place}." where each animal has its
/// own place (cat–mat, dog–rug, ...). Tokens are whole words. In a causal model a word sees only the words before it, so "cat"
/// cannot look ahead to "sat"; what must form is the attention that predicts the place: the second "the" has to look back at
/// the animal. The score is that weight.
/// </summary>
public sealed class SeedSentencesTask : TrainingTask
{
    private static readonly (string Animal, string Place)[] Pairs =
        [("cat", "mat"), ("dog", "rug"), ("bird", "tree"), ("fox", "box"), ("cow", "barn"), ("owl", "branch")];

    private readonly int[][] _first, _later;

    /// <summary>The task with its word vocabulary.</summary>
    public SeedSentencesTask()
    {
        string[] words = ["The", " The", " sat", " on", " the", ".", .. Pairs.SelectMany(p => new[] { " " + p.Animal, " " + p.Place })];
        Vocabulary = new TrainingVocabulary([], words);
        Tokenizers.Gpt2Tokenizer tokenizer = Vocabulary.CreateTokenizer();
        _first = [.. Pairs.Select(p => tokenizer.Encode(Sentence(p), false, false))];
        _later = [.. Pairs.Select(p => tokenizer.Encode(" " + Sentence(p), false, false))];
    }

    /// <inheritdoc />
    public override string Name => "seed";

    /// <inheritdoc />
    public override TrainingVocabulary Vocabulary { get; }

    /// <inheritdoc />
    public override string ScoreName => "seed score (mean weight from the second \"the\" to its sentence's animal)";

    /// <summary>The sentences, "The cat sat on the mat." first.</summary>
    public static IReadOnlyList<string> Sentences => [.. Pairs.Select(Sentence)];

    /// <inheritdoc />
    public override (int[] Tokens, string[] Labels) Probe(int length)
    {
        var ids = new List<int>(_first[0]);
        for (int n = 1; ids.Count < length; n++) ids.AddRange(_later[n % Pairs.Length]);
        int[] tokens = [.. ids.Take(length)];
        return (tokens, [.. tokens.Select(t => Vocabulary.Tokens[t])]);
    }

    /// <inheritdoc />
    public override void Sample(TrainingRandom random, int[] tokens, int[] targets, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(targets);
        var ids = new List<int>(length + 16);
        for (int b = 0; b < batch; b++)
        {
            ids.Clear();
            ids.AddRange(_first[random.NextInt(Pairs.Length)]);
            while (ids.Count < length + 1) ids.AddRange(_later[random.NextInt(Pairs.Length)]);
            for (int t = 0; t < length; t++)
            {
                tokens[(b * length) + t] = ids[t];
                targets[(b * length) + t] = ids[t + 1];
            }
        }
    }

    /// <inheritdoc />
    public override (double Score, int Layer, int Head)? AttentionScore(double[][][] weights, int length)
    {
        ArgumentNullException.ThrowIfNull(weights);
        (int[] tokens, _) = Probe(length);
        int the = Vocabulary.CreateTokenizer().Encode(" the", false, false)[0];
        var pairs = new List<(int Query, int Key)>();
        for (int i = 0; i < tokens.Length; i++)
        {
            // "<animal> sat on the": the animal is three tokens before the second "the"
            if (tokens[i] == the && i >= 3) pairs.Add((i, i - 3));
        }

        return pairs.Count == 0 ? null : Best(weights, w => pairs.Average(p => w[(p.Query * length) + p.Key]));
    }

    private static string Sentence((string Animal, string Place) p) => $"The {p.Animal} sat on the {p.Place}.";
}

/// <summary>Character-level text: the vocabulary is the bytes of the text (UTF-8); batches are random windows of it.</summary>
public sealed class CharactersTask : TrainingTask
{
    private readonly int[] _ids;

    /// <summary>The task over <paramref name="text"/>'s bytes.</summary>
    /// <exception cref="HeedException">The text is shorter than two bytes.</exception>
    public CharactersTask(byte[] text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length < 2) throw new HeedException($"text: {text.Length} bytes; expected at least 2");
        Vocabulary = new TrainingVocabulary(text.Distinct().Order());
        _ids = [.. text.Select(Vocabulary.IdOf)];
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(text));
    }

    /// <inheritdoc />
    public override string Name => "chars";

    /// <inheritdoc />
    public override TrainingVocabulary Vocabulary { get; }

    /// <summary>The SHA-256 of the text, so a resumed run can tell that it trains on the same text.</summary>
    public string Sha256 { get; }

    /// <summary>The text's length in bytes (= tokens).</summary>
    public int Length => _ids.Length;

    /// <inheritdoc />
    public override (int[] Tokens, string[] Labels) Probe(int length)
    {
        int[] tokens = _ids[..Math.Min(length, _ids.Length)];
        return (tokens, [.. tokens.Select(t => Vocabulary.Tokens[t])]);
    }

    /// <inheritdoc />
    public override void Sample(TrainingRandom random, int[] tokens, int[] targets, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(targets);
        if (_ids.Length < length + 1) throw new HeedException($"text: {_ids.Length} bytes, fewer than the context {length} + 1");
        for (int b = 0; b < batch; b++)
        {
            int start = random.NextInt(_ids.Length - length);
            _ids.AsSpan(start, length).CopyTo(tokens.AsSpan(b * length, length));
            _ids.AsSpan(start + 1, length).CopyTo(targets.AsSpan(b * length, length));
        }
    }
}
