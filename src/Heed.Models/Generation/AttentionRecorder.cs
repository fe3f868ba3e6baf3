namespace Heed.Models.Generation;

/// <summary>What an <see cref="AttentionRecorder"/> keeps besides the probabilities.</summary>
public sealed record AttentionCaptureOptions
{
    /// <summary>Also keep Q [H, T, D], K [Hkv, S, D] and V [Hkv, S, Dv] (after RoPE, K and V including the cache).</summary>
    public bool QueryKeyValue { get; init; }

    /// <summary>Also keep the scaled, masked scores [H, T, S] (−∞ where masked).</summary>
    public bool Scores { get; init; }

    /// <summary>
    /// Compute the probabilities with Heed.Core's float64 reference even when nothing else is kept. Without it (and without
    /// <see cref="QueryKeyValue"/> or <see cref="Scores"/>, which need the reference) the probabilities are the attention
    /// kernels' float32 ones, widened and each row renormalized in float64 (see <see cref="AttentionCaptureContent.Probabilities"/>
    /// for how far they may differ): a small fraction of a forward pass instead of about as much again.
    /// A run on the reference attention (<c>--reference</c>) always captures through the reference.
    /// </summary>
    public bool Reference { get; init; }
}

/// <summary>
/// One attention call of one layer: the probabilities of every query head over every key position.
/// S counts every key the queries could see (cache included): S = StartPosition + T.
/// </summary>
/// <param name="Layer">The block index, 0 first.</param>
/// <param name="StartPosition">The position of the first query row (the cache length before the call).</param>
/// <param name="Probabilities">[H, T, S]: softmax weights; row t may attend keys 0..StartPosition+t. From the float64 reference when
/// anything else is kept, <see cref="AttentionCaptureOptions.Reference"/> is set or attention ran on the reference; otherwise
/// the kernels' float32 probabilities, renormalized in float64.</param>
/// <param name="Query">Q [H, T, D] when asked for, else null.</param>
/// <param name="Key">K [Hkv, S, D] when asked for, else null.</param>
/// <param name="Value">V [Hkv, S, Dv] when asked for, else null.</param>
/// <param name="Scores">Scores [H, T, S] when asked for, else null.</param>
public sealed record LayerAttention(
    int Layer,
    int StartPosition,
    Tensor<double> Probabilities,
    Tensor<double>? Query,
    Tensor<double>? Key,
    Tensor<double>? Value,
    Tensor<double>? Scores);

/// <summary>
/// Collects the attention of every layer of every forward pass it is given to, through Heed.Core's
/// <see cref="IAttentionObserver"/> hook. A forward pass without a recorder computes nothing extra.
/// </summary>
public sealed class AttentionRecorder
{
    private readonly List<LayerAttention> _records = [];
    private readonly Action<LayerAttention>? _onRecord;

    /// <summary>
    /// Creates a recorder keeping the probabilities and whatever <paramref name="options"/> asks for;
    /// <paramref name="onRecord"/>, when given, is called with each record as soon as its layer's attention has run
    /// (for progress, or to cancel the rest of the pass).
    /// </summary>
    public AttentionRecorder(AttentionCaptureOptions? options = null, Action<LayerAttention>? onRecord = null)
    {
        Options = options ?? new AttentionCaptureOptions();
        _onRecord = onRecord;
    }

    /// <summary>What is kept besides the probabilities.</summary>
    public AttentionCaptureOptions Options { get; }

    /// <summary>Every recorded call, in the order the layers ran.</summary>
    public IReadOnlyList<LayerAttention> Records => _records;

    /// <summary>Forgets every record.</summary>
    public void Clear() => _records.Clear();

    /// <summary>An observer for one call of one layer whose valid keys are 0..<paramref name="kvLength"/>−1.</summary>
    internal IAttentionObserver ForLayer(int layer, int startPosition, int kvLength) => new LayerObserver(this, layer, startPosition, kvLength);

    private sealed class LayerObserver(AttentionRecorder owner, int layer, int startPosition, int kvLength) : IAttentionObserver
    {
        public AttentionCaptureContent Content =>
            owner.Options is { QueryKeyValue: false, Scores: false, Reference: false } ? AttentionCaptureContent.Probabilities : AttentionCaptureContent.Everything;

        public void OnAttention(AttentionCapture capture)
        {
            // The capture is [1, heads, len, size] over the whole preallocated cache; keep batch 0 and the valid keys.
            AttentionCaptureOptions o = owner.Options;
            var record = new LayerAttention(
                layer,
                startPosition,
                Trim(capture.Probabilities, kvLength),
                o.QueryKeyValue ? Trim(Asked(capture.Query), capture.Query!.Dim(3)) : null,
                o.QueryKeyValue ? TrimRows(Asked(capture.Key), kvLength) : null,
                o.QueryKeyValue ? TrimRows(Asked(capture.Value), kvLength) : null,
                o.Scores ? Trim(Asked(capture.Scores), kvLength) : null);
            owner._records.Add(record);
            owner._onRecord?.Invoke(record);
        }

        // Content asks for everything whenever these are kept, so the reference filled them.
        private static Tensor<double> Asked(Tensor<double>? t) =>
            t ?? throw new InvalidOperationException("the capture lacks an intermediate the recorder asked for");

        // [1, A, R, C] → [A, R, columns] keeping the first columns of each row (no copy when that is every column).
        private static Tensor<double> Trim(Tensor<double> t, int columns)
        {
            int a = t.Dim(1), r = t.Dim(2), c = t.Dim(3);
            if (columns == c && t.Dim(0) == 1)
            {
                return new Tensor<double>([a, r, c], t.Data); // the capture was made for this observer alone
            }

            var data = new double[a * r * columns];
            for (int row = 0; row < a * r; row++)
            {
                t.Data.AsSpan(row * c, columns).CopyTo(data.AsSpan(row * columns, columns));
            }

            return new Tensor<double>([a, r, columns], data);
        }

        // [1, A, R, C] → [A, rows, C] keeping the first rows of each head.
        private static Tensor<double> TrimRows(Tensor<double> t, int rows)
        {
            int a = t.Dim(1), r = t.Dim(2), c = t.Dim(3);
            var data = new double[a * rows * c];
            for (int head = 0; head < a; head++)
            {
                t.Data.AsSpan(head * r * c, rows * c).CopyTo(data.AsSpan(head * rows * c, rows * c));
            }

            return new Tensor<double>([a, rows, c], data);
        }
    }
}
