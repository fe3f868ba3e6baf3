namespace Heed.Models.Generation;

/// <summary>What an <see cref="AttentionRecorder"/> keeps besides the probabilities.</summary>
public sealed record AttentionCaptureOptions
{
    /// <summary>Also keep Q [H, T, D], K [Hkv, S, D] and V [Hkv, S, Dv] (after RoPE, K and V including the cache).</summary>
    public bool QueryKeyValue { get; init; }

    /// <summary>Also keep the scaled, masked scores [H, T, S] (−∞ where masked).</summary>
    public bool Scores { get; init; }
}

/// <summary>
/// One attention call of one layer: the probabilities of every query head over every key position.
/// S counts every key the queries could see (cache included): S = StartPosition + T.
/// </summary>
/// <param name="Layer">The block index, 0 first.</param>
/// <param name="StartPosition">The position of the first query row (the cache length before the call).</param>
/// <param name="Probabilities">[H, T, S]: softmax weights; row t may attend keys 0..StartPosition+t.</param>
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
        public void OnAttention(AttentionCapture capture)
        {
            // The capture is [1, heads, len, size] over the whole preallocated cache; keep batch 0 and the valid keys.
            AttentionCaptureOptions o = owner.Options;
            var record = new LayerAttention(
                layer,
                startPosition,
                Trim(capture.Probabilities, kvLength),
                o.QueryKeyValue ? Trim(capture.Query, capture.Query.Dim(3)) : null,
                o.QueryKeyValue ? TrimRows(capture.Key, kvLength) : null,
                o.QueryKeyValue ? TrimRows(capture.Value, kvLength) : null,
                o.Scores ? Trim(capture.Scores, kvLength) : null);
            owner._records.Add(record);
            owner._onRecord?.Invoke(record);
        }

        // [1, A, R, C] → [A, R, columns] keeping the first columns of each row.
        private static Tensor<double> Trim(Tensor<double> t, int columns)
        {
            int a = t.Dim(1), r = t.Dim(2), c = t.Dim(3);
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
