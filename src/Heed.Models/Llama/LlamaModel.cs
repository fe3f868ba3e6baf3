using System.Runtime.CompilerServices;
using Heed.Models.Blocks;
using Heed.Models.Generation;

namespace Heed.Models.Llama;

/// <summary>
/// The Llama architecture as llama2.c runs it: RMSNorm, RoPE on adjacent pairs, grouped-query causal attention,
/// SwiGLU feed-forward, residual connections, and a classifier over the final RMSNorm.
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

    /// <summary>cos and sin of every position's RoPE angles, computed once for the whole context.</summary>
    private RopeTable Rope => field ??= new RopeTable(Config.HeadSize, Config.SeqLen, Config.RopeTheta);

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

    /// <summary>Loads a llama2.c checkpoint (see <see cref="LlamaCheckpoint"/>).</summary>
    /// <exception cref="HeedException">The file is missing, truncated or inconsistent.</exception>
    public static LlamaModel Load(string path)
    {
        (LlamaConfig config, LlamaWeights weights) = LlamaCheckpoint.Load(path);
        return new LlamaModel(config, weights);
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
            _rope = model.Rope;
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
                w.TokenEmbedding.AsSpan(tokens[t] * dim, dim).CopyTo(x.Slice(t * dim, dim));
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
                Linear.MatMul(xb, layer.Wq, default, q, rows, dim, dim, threads: Threads);
                Linear.MatMul(xb, layer.Wk, default, k, rows, dim, kvDim, threads: Threads);
                Linear.MatMul(xb, layer.Wv, default, v, rows, dim, kvDim, threads: Threads);
                _rope.ApplyInterleaved(q, rows, c.NumHeads, start);
                _rope.ApplyInterleaved(k, rows, c.KvNumHeads, start);
                Cache.Write(l, k, v, rows);
                Cache.Attend(l, q, att, rows, c.NumHeads, this);
                Linear.MatMul(att, layer.Wo, default, x, rows, dim, dim, accumulate: true, threads: Threads);

                // feed-forward: xb = rmsnorm(x)·rms_ffn; x += w2·(silu(w1·xb) ⊙ (w3·xb))
                Norm.Rms(x, layer.RmsFfn, xb, rows, dim, c.NormEpsilon);
                Linear.MatMul(xb, layer.W1, default, hb, rows, dim, hidden, threads: Threads);
                Linear.MatMul(xb, layer.W3, default, hb2, rows, dim, hidden, threads: Threads);
                Activation.SwiGlu(hb, hb2);
                Linear.MatMul(hb, layer.W2, default, x, rows, hidden, dim, accumulate: true, threads: Threads);
            }

            Cache.Commit(rows);

            // logits = wcls · (rmsnorm(x)·rms_final), for every row or only the last
            int first = allRows ? 0 : rows - 1, count = rows - first;
            Span<float> last = xb[..(count * dim)];
            Norm.Rms(x[(first * dim)..], w.RmsFinal, last, count, dim, c.NormEpsilon);
            Linear.MatMul(last, w.Classifier, default, logits, count, dim, c.VocabSize, threads: Threads);
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
