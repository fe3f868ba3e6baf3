using System.Globalization;

namespace Heed.Explain;

/// <summary>
/// The attention weights of one input across a model: layers × heads × [T, S] probabilities, with the token labels of
/// both axes. Every picture takes one of these, so a toy trace, a captured model run or a NumPy array all draw the same way.
/// Row i of a head's matrix holds query token i's weights over the S key tokens.
/// </summary>
public sealed class AttentionSet
{
    private readonly double[][][] _weights;
    private readonly double[][][]? _scores;

    /// <summary>Creates a set; <paramref name="weights"/>[l][h] is the row-major [T, S] matrix of layer l, head h.</summary>
    /// <param name="queryTokens">The T query labels (rows).</param>
    /// <param name="keyTokens">The S key labels (columns).</param>
    /// <param name="weights">[L][H][T·S] probabilities.</param>
    /// <param name="scores">Optional [L][H][T·S] scores before the softmax (shown on hover and in the network view).</param>
    /// <exception cref="HeedException">The sizes disagree; the message names the layer and head.</exception>
    public AttentionSet(IReadOnlyList<string> queryTokens, IReadOnlyList<string> keyTokens, double[][][] weights, double[][][]? scores = null)
    {
        ArgumentNullException.ThrowIfNull(queryTokens);
        ArgumentNullException.ThrowIfNull(keyTokens);
        ArgumentNullException.ThrowIfNull(weights);
        if (queryTokens.Count == 0 || keyTokens.Count == 0) throw new HeedException("an attention set needs at least one query token and one key token");
        if (weights.Length == 0) throw new HeedException("an attention set needs at least one layer");
        QueryTokens = queryTokens.ToArray();
        KeyTokens = keyTokens.ToArray();
        Heads = weights[0].Length;
        Check("weights", weights);
        if (scores is not null)
        {
            if (scores.Length != weights.Length) throw new HeedException($"scores have {scores.Length} layers but weights have {weights.Length}");
            Check("scores", scores);
        }

        _weights = weights;
        _scores = scores;
    }

    /// <summary>The T query labels (rows).</summary>
    public IReadOnlyList<string> QueryTokens { get; }

    /// <summary>The S key labels (columns).</summary>
    public IReadOnlyList<string> KeyTokens { get; }

    /// <summary>L, the number of layers.</summary>
    public int Layers => _weights.Length;

    /// <summary>H, the number of heads in each layer.</summary>
    public int Heads { get; }

    /// <summary>T, the number of query tokens.</summary>
    public int QueryLength => QueryTokens.Count;

    /// <summary>S, the number of key tokens.</summary>
    public int KeyLength => KeyTokens.Count;

    /// <summary>Whether pre-softmax scores are known.</summary>
    public bool HasScores => _scores is not null;

    /// <summary>A name for the source of the weights, shown in titles ("seed 000", a model path, a file name).</summary>
    public string Source { get; init; } = "";

    /// <summary>The weight of query <paramref name="query"/> on key <paramref name="key"/> in layer <paramref name="layer"/>, head <paramref name="head"/>.</summary>
    public double Weight(int layer, int head, int query, int key) => _weights[layer][head][(query * KeyLength) + key];

    /// <summary>The pre-softmax score, or NaN when scores are not known.</summary>
    public double Score(int layer, int head, int query, int key) =>
        _scores is null ? double.NaN : _scores[layer][head][(query * KeyLength) + key];

    /// <summary>
    /// Whether (query, key) of one head was masked (never attended, its score −∞), as opposed to a learned weight near zero.
    /// Known only when the set has scores; without them nothing counts as masked.
    /// </summary>
    public bool IsMasked(int layer, int head, int query, int key) =>
        _scores is not null && double.IsNegativeInfinity(_scores[layer][head][(query * KeyLength) + key]);

    /// <summary>The [T·S] row-major weights of one head (not copied).</summary>
    public ReadOnlySpan<double> Matrix(int layer, int head) => _weights[layer][head];

    /// <summary>The row of <paramref name="token"/> among the query tokens (see <see cref="AttentionTrace.IndexOf(IReadOnlyList{string}, string)"/>), or −1.</summary>
    public int IndexOf(string token) => AttentionTrace.IndexOf(QueryTokens, token);

    /// <summary>The [T·S] mean over the heads of one layer.</summary>
    public double[] HeadAverage(int layer)
    {
        var mean = new double[QueryLength * KeyLength];
        for (int h = 0; h < Heads; h++)
        {
            double[] m = _weights[layer][h];
            for (int i = 0; i < mean.Length; i++) mean[i] += m[i] / Heads;
        }

        return mean;
    }

    /// <summary>Checks a layer and a head index against the set; the message names the flag.</summary>
    /// <exception cref="HeedException">Out of range.</exception>
    public void CheckIndex(int? layer, int? head, string layerFlag = "--layer", string headFlag = "--head") =>
        CheckIndex(Layers, Heads, layer, head, layerFlag, headFlag);

    /// <summary>Checks a layer and a head index against <paramref name="layers"/> × <paramref name="heads"/> (before a model runs).</summary>
    /// <exception cref="HeedException">Out of range; the message names the flag and the valid range.</exception>
    public static void CheckIndex(int layers, int heads, int? layer, int? head, string layerFlag = "--layer", string headFlag = "--head")
    {
        if (layer is int l && (l < 0 || l >= layers))
        {
            throw new HeedException($"{layerFlag} {l} is out of range: there {(layers == 1 ? "is 1 layer (0)" : $"are {layers} layers (0..{layers - 1})")}");
        }

        if (head is int h && (h < 0 || h >= heads))
        {
            throw new HeedException($"{headFlag} {h} is out of range: there {(heads == 1 ? "is 1 head (0)" : $"are {heads} heads per layer (0..{heads - 1})")}");
        }
    }

    /// <summary>One layer and head of a single-head trace: weights and scores of <paramref name="trace"/>.</summary>
    public static AttentionSet FromTrace(AttentionTrace trace, string source = "")
    {
        ArgumentNullException.ThrowIfNull(trace);
        return new AttentionSet(trace.Tokens, trace.Tokens, [[Flatten(trace.Weights)]], [[Flatten(trace.Scores)]]) { Source = source };
    }

    /// <summary>
    /// A set from a [L, H, T, S], [H, T, S] or [T, S] array of probabilities (for example saved from PyTorch with
    /// <c>np.save</c>); missing leading axes count as 1.
    /// </summary>
    /// <exception cref="HeedException">The rank is not 2–4 or the token counts disagree with the array.</exception>
    /// <param name="probabilities">The weights.</param>
    /// <param name="queryTokens">The T row labels.</param>
    /// <param name="keyTokens">The S column labels (default: the query tokens).</param>
    /// <param name="name">What the array is (a flag and file), for messages and as the set's <see cref="Source"/>.</param>
    /// <param name="allowUnnormalized">
    /// Take any finite numbers; by default every weight must be in [0, 1] and every row must sum to 1 (see <see cref="CheckProbabilities"/>).
    /// </param>
    /// <param name="allowFlag">The switch that sets <paramref name="allowUnnormalized"/>, named in messages.</param>
    public static AttentionSet FromArray(Tensor probabilities, IReadOnlyList<string> queryTokens, IReadOnlyList<string>? keyTokens = null, string name = "attention weights", bool allowUnnormalized = false, string allowFlag = "--allow-unnormalized")
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(queryTokens);
        keyTokens ??= queryTokens;
        int rank = probabilities.Rank;
        if (rank is < 2 or > 4)
        {
            throw new HeedException($"{name} {probabilities.ShapeText} must be [L, H, T, S], [H, T, S] or [T, S]");
        }

        int layers = rank == 4 ? probabilities.Dim(0) : 1, heads = rank >= 3 ? probabilities.Dim(rank - 3) : 1;
        int t = probabilities.Dim(rank - 2), s = probabilities.Dim(rank - 1);
        if (t != queryTokens.Count) throw new HeedException($"{name} {probabilities.ShapeText} has {t} rows on axis {rank - 2}; expected {queryTokens.Count} (one per token)");
        if (s != keyTokens.Count) throw new HeedException($"{name} {probabilities.ShapeText} has {s} columns on axis {rank - 1}; expected {keyTokens.Count} (one per key token)");
        if (layers == 0 || heads == 0) throw new HeedException($"{name} {probabilities.ShapeText} has no layers or heads");
        double[] flat = probabilities.ToDoubleArray();
        if (allowUnnormalized)
        {
            int bad = Array.FindIndex(flat, x => !double.IsFinite(x));
            if (bad >= 0) throw new HeedException($"{name}: {Describe(flat[bad])} at {Position(probabilities.Shape, bad)}; weights must be finite numbers");
        }
        else
        {
            CheckProbabilities(flat, probabilities.Shape, name, allowFlag);
        }

        var weights = new double[layers][][];
        for (int l = 0; l < layers; l++)
        {
            weights[l] = new double[heads][];
            for (int h = 0; h < heads; h++)
            {
                weights[l][h] = flat.AsSpan(((l * heads) + h) * t * s, t * s).ToArray();
            }
        }

        return new AttentionSet(queryTokens, keyTokens, weights) { Source = name };
    }

    /// <summary>Rows within this of 1 count as summing to 1 (float16 softmax rows are off by a few 1e-4).</summary>
    public const double RowSumTolerance = 1e-3;

    /// <summary>
    /// Checks that <paramref name="flat"/> (laid out as <paramref name="shape"/>, rows along the last axis) holds attention
    /// probabilities: every weight in [0, 1], no NaN, and every row summing to 1 within <see cref="RowSumTolerance"/>. A row of
    /// zeros is taken too: it is what a fully masked query row gives under ONNX semantics.
    /// </summary>
    /// <exception cref="HeedException">The first weight or row that is not a probability, with its position.</exception>
    /// <param name="flat">The weights, row-major.</param>
    /// <param name="shape">Their shape.</param>
    /// <param name="name">What the array is, for messages.</param>
    /// <param name="allowFlag">The switch that takes any numbers, named in messages (--allow-unnormalized, allowUnnormalized).</param>
    public static void CheckProbabilities(ReadOnlySpan<double> flat, ReadOnlySpan<int> shape, string name, string allowFlag)
    {
        int columns = shape.Length == 0 ? 1 : shape[^1];
        for (int i = 0; i < flat.Length; i++)
        {
            if (!(flat[i] >= 0 && flat[i] <= 1))
            {
                throw new HeedException($"{name}: weight {Describe(flat[i])} at {Position(shape, i)} is not a probability (outside [0, 1]); {allowFlag} takes such numbers");
            }
        }

        for (int start = 0; columns > 0 && start < flat.Length; start += columns)
        {
            double sum = 0;
            foreach (double w in flat.Slice(start, columns)) sum += w;
            if (sum != 0 && Math.Abs(sum - 1) > RowSumTolerance)
            {
                string row = Position(shape, start);
                throw new HeedException($"{name}: the row at {row[..row.LastIndexOf(',')]}, :] sums to {sum.ToString("G6", CultureInfo.InvariantCulture)}, not 1 (within {RowSumTolerance.ToString(CultureInfo.InvariantCulture)}); {allowFlag} takes such rows");
            }
        }
    }

    private static string Describe(double x) => double.IsNaN(x) ? "NaN" : x.ToString("G6", CultureInfo.InvariantCulture);

    // The multi-index of flat position i: "[l, h, t, s]".
    private static string Position(ReadOnlySpan<int> shape, int i)
    {
        var index = new int[shape.Length];
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            index[axis] = shape[axis] == 0 ? 0 : i % shape[axis];
            i = shape[axis] == 0 ? 0 : i / shape[axis];
        }

        return "[" + string.Join(", ", index) + "]";
    }

    /// <summary>
    /// A set from the captures of a model run, one capture per layer in call order (what <see cref="CaptureCollector"/> collects).
    /// Batch item <paramref name="batch"/> is used. The query tokens are the last T of the S key tokens. The set has scores when every
    /// capture has them (reference captures do; kernel captures of the probabilities alone do not).
    /// </summary>
    /// <exception cref="HeedException">No captures, or the captures disagree in heads or lengths with each other or the tokens.</exception>
    public static AttentionSet FromCaptures(IReadOnlyList<AttentionCapture> captures, IReadOnlyList<string> keyTokens, int batch = 0, string source = "")
    {
        ArgumentNullException.ThrowIfNull(captures);
        ArgumentNullException.ThrowIfNull(keyTokens);
        if (captures.Count == 0) throw new HeedException("no attention was captured");
        AttentionGeometry g = captures[0].Geometry;
        if (g.KvLength != keyTokens.Count) throw new HeedException($"the capture attends over {g.KvLength} keys but {keyTokens.Count} tokens were given");
        if (batch < 0 || batch >= g.Batch) throw new HeedException($"batch item {batch} is out of range: the capture has {g.Batch}");
        int t = g.QueryLength, s = g.KvLength, heads = g.NumHeads;
        var weights = new double[captures.Count][][];
        double[][][]? scores = captures.All(c => c.Scores is not null) ? new double[captures.Count][][] : null; // kernel captures hold no scores
        for (int l = 0; l < captures.Count; l++)
        {
            AttentionGeometry gl = captures[l].Geometry;
            if (gl.NumHeads != heads || gl.QueryLength != t || gl.KvLength != s)
            {
                throw new HeedException($"capture {l} has {gl.NumHeads} heads over [{gl.QueryLength}, {gl.KvLength}]; capture 0 has {heads} over [{t}, {s}]");
            }

            weights[l] = new double[heads][];
            if (scores is not null) scores[l] = new double[heads][];
            for (int h = 0; h < heads; h++)
            {
                int offset = ((batch * heads) + h) * t * s;
                weights[l][h] = captures[l].Probabilities.Data.AsSpan(offset, t * s).ToArray();
                if (scores is not null) scores[l][h] = captures[l].Scores!.Data.AsSpan(offset, t * s).ToArray();
            }
        }

        return new AttentionSet(keyTokens.Skip(s - t).ToArray(), keyTokens, weights, scores) { Source = source };
    }

    private void Check(string what, double[][][] data)
    {
        int cells = QueryLength * KeyLength;
        for (int l = 0; l < data.Length; l++)
        {
            if (data[l].Length != Heads) throw new HeedException($"{what} layer {l} has {data[l].Length} heads; layer 0 has {Heads}");
            for (int h = 0; h < Heads; h++)
            {
                if (data[l][h].Length != cells)
                {
                    throw new HeedException($"{what} layer {l} head {h} has {data[l][h].Length} values; expected {cells} = {QueryLength} query × {KeyLength} key tokens");
                }
            }
        }
    }

    private static double[] Flatten(double[][] m) => m.SelectMany(r => r).ToArray();
}

/// <summary>
/// An <see cref="IAttentionObserver"/> that keeps every capture in call order: set it on a model's attention options,
/// run one forward pass, then build an <see cref="AttentionSet"/> with <see cref="AttentionSet.FromCaptures"/>.
/// </summary>
public sealed class CaptureCollector : IAttentionObserver
{
    private readonly List<AttentionCapture> _captures = [];

    /// <summary>The captures so far (one per attention call: one per layer for a forward pass).</summary>
    public IReadOnlyList<AttentionCapture> Captures => _captures;

    /// <inheritdoc/>
    public void OnAttention(AttentionCapture capture)
    {
        ArgumentNullException.ThrowIfNull(capture);
        _captures.Add(capture);
    }

    /// <summary>Forgets the captures (before the next run).</summary>
    public void Clear() => _captures.Clear();
}
