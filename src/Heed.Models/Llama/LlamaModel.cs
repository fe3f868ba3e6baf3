using System.Runtime.CompilerServices;
using Heed.Models.Blocks;
using Heed.Models.Generation;

namespace Heed.Models.Llama;

/// <summary>
/// The Llama architecture as llama2.c and llama.cpp run it: RMSNorm, RoPE on adjacent pairs, grouped-query causal
/// attention, SwiGLU feed-forward, residual connections, and a classifier over the final RMSNorm; weights in float32
/// (llama2.c checkpoints) or any type <see cref="WeightMatrix"/> holds (GGUF files).
/// </summary>
public sealed class LlamaModel : ICausalLanguageModel
{
    /// <summary>Creates a model from its configuration and weights.</summary>
    public LlamaModel(LlamaConfig config, LlamaWeights weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        Config = config;
        Weights = weights;
    }

    /// <summary>The hyperparameters.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The weights.</summary>
    public LlamaWeights Weights { get; }

    /// <summary>cos and sin of RoPE angles for the largest session made so far (a long context is tabulated only when used).</summary>
    private RopeTable? _rope;

    /// <inheritdoc />
    public string Architecture => "llama";

    /// <inheritdoc />
    public int VocabSize => Config.VocabSize;

    /// <inheritdoc />
    public int ContextLength => Config.SeqLen;

    /// <inheritdoc />
    public int NumLayers => Config.NumLayers;

    /// <inheritdoc />
    public int NumHeads => Config.NumHeads;

    /// <inheritdoc />
    public int KvNumHeads => Config.KvNumHeads;

    /// <inheritdoc />
    public int HeadSize => Config.HeadSize;

    /// <summary>Loads a llama2.c checkpoint (see <see cref="LlamaCheckpoint"/>) or a GGUF file (see <see cref="LlamaGguf"/>), told apart by the GGUF magic.</summary>
    /// <exception cref="HeedException">The file is missing, truncated or inconsistent.</exception>
    public static LlamaModel Load(string path)
    {
        (LlamaConfig config, LlamaWeights weights) = IsGguf(path) ? LlamaGguf.Load(path) : LlamaCheckpoint.Load(path);
        return new LlamaModel(config, weights);
    }

    /// <summary>Whether the file starts with the GGUF magic.</summary>
    internal static bool IsGguf(string path)
    {
        try
        {
            using FileStream probe = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return probe.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"model {path}: cannot read: {ex.Message}", ex);
        }
    }

    private RopeTable RopeFor(int positions)
    {
        RopeTable? table = Volatile.Read(ref _rope);
        if (table is null || table.Positions < positions)
        {
            table = new RopeTable(Config.RopeDimensions, positions, Config.RopeTheta, Config.RopeScale, Weights.RopeFactors);
            Volatile.Write(ref _rope, table);
        }

        return table;
    }

    /// <inheritdoc />
    public DecoderSession CreateSession(int capacity)
    {
        if (capacity <= 0 || capacity > Config.SeqLen)
        {
            throw new HeedException($"session capacity {capacity}: expected 1..{Config.SeqLen} (the model's context)");
        }

        return new Session(this, capacity);
    }

    private sealed class Session : DecoderSession
    {
        private readonly LlamaModel _model;
        private readonly RopeTable _rope;
        private Buffers? _buffers;

        public Session(LlamaModel model, int capacity)
            : base(new KvCache(model.Config.NumLayers, model.Config.KvNumHeads, model.Config.HeadSize, capacity), model.Config.VocabSize)
        {
            _model = model;
            _rope = model.RopeFor(capacity);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        protected override void Run(ReadOnlySpan<int> tokens, Span<float> logits, bool allRows, CancellationToken cancellationToken)
        {
            LlamaConfig c = _model.Config;
            LlamaWeights w = _model.Weights;
            int rows = tokens.Length, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim, start = Position;
            Buffers b = _buffers is { Rows: var r } existing && r >= rows ? existing : (_buffers = new Buffers(rows, c));

            // x [T, C] = token_embedding_table[tokens]
            Span<float> x = b.X.AsSpan(0, rows * dim);
            for (int t = 0; t < rows; t++)
            {
                w.TokenEmbedding.DequantizeRow(tokens[t], x.Slice(t * dim, dim));
            }

            Span<float> xb = b.Xb.AsSpan(0, rows * dim), q = b.Q.AsSpan(0, rows * dim), att = b.Att.AsSpan(0, rows * dim);
            Span<float> k = b.K.AsSpan(0, rows * kvDim), v = b.V.AsSpan(0, rows * kvDim);
            Span<float> hb = b.Hb.AsSpan(0, rows * hidden), hb2 = b.Hb2.AsSpan(0, rows * hidden);
            for (int l = 0; l < c.NumLayers; l++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                LlamaLayer layer = w.Layers[l];

                // attention: xb = rmsnorm(x)·rms_att; q, k, v = wq·xb, wk·xb, wv·xb; RoPE; causal GQA attention; x += wo·att
                Norm.Rms(x, layer.RmsAtt, xb, rows, dim, c.NormEpsilon);
                WeightMatrix.MatMulGroup(xb, rows, Threads, layer.Wq, q, layer.Wk, k, layer.Wv, v);
                _rope.ApplyInterleaved(q, rows, c.NumHeads, start, c.HeadSize);
                _rope.ApplyInterleaved(k, rows, c.KvNumHeads, start, c.HeadSize);
                Cache.Write(l, k, v, rows);
                Cache.Attend(l, q, att, rows, c.NumHeads, this);
                layer.Wo.MatMul(att, x, rows, accumulate: true, threads: Threads);

                // feed-forward: xb = rmsnorm(x)·rms_ffn; x += w2·(silu(w1·xb) ⊙ (w3·xb))
                Norm.Rms(x, layer.RmsFfn, xb, rows, dim, c.NormEpsilon);
                WeightMatrix.MatMulGroup(xb, rows, Threads, layer.W1, hb, layer.W3, hb2);
                Activation.SwiGlu(hb, hb2);
                layer.W2.MatMul(hb, x, rows, accumulate: true, threads: Threads);
            }

            Cache.Commit(rows);

            // logits = wcls · (rmsnorm(x)·rms_final), for every row or only the last
            int first = allRows ? 0 : rows - 1, count = rows - first;
            Span<float> last = xb[..(count * dim)];
            Norm.Rms(x[(first * dim)..], w.RmsFinal, last, count, dim, c.NormEpsilon);
            w.Classifier.MatMul(last, logits, count, threads: Threads);
        }

        private sealed class Buffers(int rows, LlamaConfig c)
        {
            public int Rows { get; } = rows;

            public float[] X { get; } = new float[rows * c.Dim];

            public float[] Xb { get; } = new float[rows * c.Dim];

            public float[] Q { get; } = new float[rows * c.Dim];

            public float[] Att { get; } = new float[rows * c.Dim];

            public float[] K { get; } = new float[rows * c.KvDim];

            public float[] V { get; } = new float[rows * c.KvDim];

            public float[] Hb { get; } = new float[rows * c.HiddenDim];

            public float[] Hb2 { get; } = new float[rows * c.HiddenDim];
        }
    }
}
