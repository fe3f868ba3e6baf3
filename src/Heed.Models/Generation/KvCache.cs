using System.Runtime.CompilerServices;
using Heed.Models.Blocks;

namespace Heed.Models.Generation;

/// <summary>
/// A preallocated key/value cache for every layer: K and V [1, Hkv, capacity, D] per layer, written in place.
/// Batched passes read it through Heed.Core's <see cref="Attention.Compute"/> with <c>nonpad_kv_seqlen</c> = the
/// filled length and <c>is_causal</c> (causal offset = filled − T), so positions past the filled length are never
/// seen. One-token decode steps read the same rows through <see cref="CachedAttention"/>.
/// </summary>
public sealed class KvCache
{
    private readonly Tensor<float>[] _keys;
    private readonly Tensor<float>[] _values;
    private readonly Tensor<long> _filled = new([1], new long[1]);
    private readonly float[] _scores;
    private readonly DecodeJob _decodeJob = new();
    private float[] _partScores = [];
    private float[] _query = [];

    /// <summary>Allocates the cache.</summary>
    /// <exception cref="HeedException">The sizes are not positive or the cache would not fit in one array per layer.</exception>
    public KvCache(int layers, int kvNumHeads, int headSize, int capacity)
    {
        if (layers <= 0 || kvNumHeads <= 0 || headSize <= 0 || capacity <= 0)
        {
            throw new HeedException($"KV cache: layers {layers}, kv heads {kvNumHeads}, head size {headSize}, capacity {capacity}: all must be > 0");
        }

        if ((long)kvNumHeads * headSize * capacity > Array.MaxLength)
        {
            throw new HeedException($"KV cache: capacity {capacity} × {kvNumHeads} kv heads × head size {headSize} is more than one array holds");
        }

        NumLayers = layers;
        KvNumHeads = kvNumHeads;
        HeadSize = headSize;
        Capacity = capacity;
        ScoresLength = CachedAttention.PaddedLength(capacity);
        _scores = new float[ScoresLength];
        _keys = new Tensor<float>[layers];
        _values = new Tensor<float>[layers];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new Tensor<float>([1, kvNumHeads, capacity, headSize], new float[kvNumHeads * capacity * headSize]);
            _values[l] = new Tensor<float>([1, kvNumHeads, capacity, headSize], new float[kvNumHeads * capacity * headSize]);
        }
    }

    /// <summary>L, the number of layers.</summary>
    public int NumLayers { get; }

    /// <summary>Hkv.</summary>
    public int KvNumHeads { get; }

    /// <summary>D.</summary>
    public int HeadSize { get; }

    /// <summary>The number of positions it can hold.</summary>
    public int Capacity { get; }

    /// <summary>The number of positions filled (the next token's position).</summary>
    public int Length { get; private set; }

    /// <summary>The length of a decode step's scores row: the capacity rounded up to whole vectors.</summary>
    internal int ScoresLength { get; }

    /// <summary>K of one layer, [1, Hkv, capacity, D] (positions ≥ <see cref="Length"/> hold stale values).</summary>
    public Tensor<float> Key(int layer) => _keys[layer];

    /// <summary>V of one layer, [1, Hkv, capacity, D].</summary>
    public Tensor<float> Value(int layer) => _values[layer];

    /// <summary>Forgets every position (the memory is kept).</summary>
    public void Reset() => Length = 0;

    /// <summary>Throws unless <paramref name="rows"/> more positions fit.</summary>
    internal void CheckRoom(int rows)
    {
        if (Length + rows > Capacity)
        {
            throw new HeedException($"KV cache full: {Length} positions filled + {rows} new > capacity {Capacity} (the context)");
        }
    }

    /// <summary>Writes k and v [T, Hkv·D] of one layer at positions Length..Length+T−1 (not yet committed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Write(int layer, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int rows)
    {
        Span<float> keys = _keys[layer].Data, values = _values[layer].Data;
        int d = HeadSize, width = KvNumHeads * d;
        for (int t = 0; t < rows; t++)
        {
            int pos = Length + t;
            for (int h = 0; h < KvNumHeads; h++)
            {
                ReadOnlySpan<float> kRow = k.Slice((t * width) + (h * d), d), vRow = v.Slice((t * width) + (h * d), d);
                int to = ((h * Capacity) + pos) * d;
                kRow.CopyTo(keys.Slice(to, d));
                vRow.CopyTo(values.Slice(to, d));
            }
        }
    }

    /// <summary>
    /// Attention of q [T, H·D] (query rows at positions Length..Length+T−1) over every filled position and the T
    /// just written: y [T, H·D]. One query row without a recorder or the reference switch runs
    /// <see cref="CachedAttention.Decode"/> over the cache's rows; everything else runs <see cref="Attention.Compute"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Attend(int layer, ReadOnlySpan<float> q, Span<float> y, int rows, int numHeads, DecoderSession session)
    {
        if (rows == 1 && session.Recorder is null && !session.UseReferenceAttention && !session.DecodeThroughAttentionCompute)
        {
            int length = Length + 1, parts = Math.Min(session.Threads, numHeads);
            if (parts > 1 && _partScores.Length < parts * ScoresLength)
            {
                // On the first step with more threads, not on the step that first crosses the threshold: a session's later
                // steps allocate nothing.
                _partScores = new float[parts * ScoresLength];
            }

            if (parts > 1 && (long)numHeads * length * HeadSize >= ParallelDecodeThreshold)
            {
                DecodeParallel(layer, q, y, numHeads, length, parts);
                return;
            }

            CachedAttention.Decode(q, _keys[layer].Data, _values[layer].Data, y, numHeads, KvNumHeads, HeadSize, Capacity, length, _scores);
            return;
        }

        int d = HeadSize;
        int kvLength = Length + rows;
        _filled.Data[0] = kvLength;

        // q [T, H, D] → Q [1, H, T, D]; for T = 1 the two layouts are the same memory order.
        int size = numHeads * rows * d;
        if (_query.Length != size) _query = new float[size];
        if (rows == 1)
        {
            q[..size].CopyTo(_query);
        }
        else
        {
            for (int t = 0; t < rows; t++)
            {
                for (int h = 0; h < numHeads; h++)
                {
                    q.Slice(((t * numHeads) + h) * d, d).CopyTo(_query.AsSpan(((h * rows) + t) * d, d));
                }
            }
        }

        var inputs = new AttentionInputs(new Tensor<float>([1, numHeads, rows, d], _query), _keys[layer], _values[layer]) { NonpadKvSeqlen = _filled };
        AttentionOptions options = session.AttentionOptions;
        if (session.Recorder is AttentionRecorder recorder)
        {
            options = options with { Observer = recorder.ForLayer(layer, Length, kvLength) };
        }

        var output = (Tensor<float>)Attention.Compute(inputs, options).Output; // Y [1, H, T, D]
        ReadOnlySpan<float> yData = output.Data;
        if (rows == 1)
        {
            yData.CopyTo(y);
            return;
        }

        for (int h = 0; h < numHeads; h++)
        {
            for (int t = 0; t < rows; t++)
            {
                yData.Slice(((h * rows) + t) * d, d).CopyTo(y.Slice(((t * numHeads) + h) * d, d));
            }
        }
    }

    /// <summary>
    /// Below this many H·S·D (a step's score multiply-adds), a decode step's heads stay on the calling thread: handing a part to
    /// the team costs about a microsecond, and a step of 2^15 takes several. Per cache, so that a test can split a small model's
    /// steps without touching other sessions.
    /// </summary>
    internal long ParallelDecodeThreshold { get; set; } = 1L << 15;

    /// <summary>A decode step with its query heads split across the process's <see cref="ThreadTeam"/>, each part with its own scores.</summary>
    private unsafe void DecodeParallel(int layer, ReadOnlySpan<float> q, Span<float> y, int numHeads, int length, int parts)
    {
        fixed (float* pq = q, py = y, pk = _keys[layer].Data, pv = _values[layer].Data, ps = _partScores)
        {
            DecodeJob job = _decodeJob;
            job.Q = pq;
            job.Y = py;
            job.Keys = pk;
            job.Values = pv;
            job.Scores = ps;
            (job.QLength, job.YLength, job.CacheLength) = (q.Length, y.Length, _keys[layer].Data.Length);
            (job.NumHeads, job.KvNumHeads, job.HeadSize, job.Capacity, job.ScoresLength, job.Length) = (numHeads, KvNumHeads, HeadSize, Capacity, ScoresLength, length);
            ThreadTeam.Shared(parts).Run(job, parts);
            job.Q = job.Y = job.Keys = job.Values = job.Scores = null;
        }
    }

    /// <summary>One decode step's operands as pointers; part p of n takes query heads [p·H/n, (p+1)·H/n).</summary>
    private sealed unsafe class DecodeJob : TeamJob
    {
        public float* Q;
        public float* Y;
        public float* Keys;
        public float* Values;
        public float* Scores;
        public int QLength, YLength, CacheLength, NumHeads, KvNumHeads, HeadSize, Capacity, ScoresLength, Length;

        public override void Execute(int part, int parts)
        {
            int first = (int)((long)NumHeads * part / parts), end = (int)((long)NumHeads * (part + 1) / parts);
            CachedAttention.DecodeHeads(
                new ReadOnlySpan<float>(Q, QLength),
                new ReadOnlySpan<float>(Keys, CacheLength),
                new ReadOnlySpan<float>(Values, CacheLength),
                new Span<float>(Y, YLength),
                NumHeads,
                KvNumHeads,
                HeadSize,
                Capacity,
                Length,
                new Span<float>(Scores + ((long)part * ScoresLength), ScoresLength),
                first,
                end);
        }
    }

    /// <summary>Marks <paramref name="rows"/> more positions as filled (after every layer has written them).</summary>
    internal void Commit(int rows) => Length += rows;
}
