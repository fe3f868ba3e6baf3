using System.Runtime.CompilerServices;
using Heed.IO;
using Heed.Models.Blocks;
using Heed.Models.Generation;

namespace Heed.Models.Gpt2;

/// <summary>One GPT-2 block; names as in Hugging Face's checkpoint. Matrices are held [out, in] (see <see cref="Gpt2Model.Load"/>).</summary>
public sealed class Gpt2Block
{
    /// <summary>ln_1.weight, ln_1.bias [C].</summary>
    public required float[] Ln1Weight { get; init; }

    /// <summary>ln_1.bias [C].</summary>
    public required float[] Ln1Bias { get; init; }

    /// <summary>attn.c_attn as [3C, C] (Q rows, then K, then V).</summary>
    public required float[] CAttnWeight { get; init; }

    /// <summary>attn.c_attn.bias [3C].</summary>
    public required float[] CAttnBias { get; init; }

    /// <summary>attn.c_proj as [C, C].</summary>
    public required float[] CProjWeight { get; init; }

    /// <summary>attn.c_proj.bias [C].</summary>
    public required float[] CProjBias { get; init; }

    /// <summary>ln_2.weight [C].</summary>
    public required float[] Ln2Weight { get; init; }

    /// <summary>ln_2.bias [C].</summary>
    public required float[] Ln2Bias { get; init; }

    /// <summary>mlp.c_fc as [inner, C].</summary>
    public required float[] FcWeight { get; init; }

    /// <summary>mlp.c_fc.bias [inner].</summary>
    public required float[] FcBias { get; init; }

    /// <summary>mlp.c_proj as [C, inner].</summary>
    public required float[] MlpProjWeight { get; init; }

    /// <summary>mlp.c_proj.bias [C].</summary>
    public required float[] MlpProjBias { get; init; }
}

/// <summary>
/// GPT-2: learned position embeddings, pre-LayerNorm blocks with multi-head causal attention and a GELU MLP,
/// a final LayerNorm, and logits through the (tied) token embedding.
/// </summary>
public sealed class Gpt2Model : ICausalLanguageModel
{
    private Gpt2Model(Gpt2Config config, float[] wte, float[] wpe, Gpt2Block[] blocks, float[] lnFWeight, float[] lnFBias, float[] lmHead)
    {
        Config = config;
        Wte = wte;
        Wpe = wpe;
        Blocks = blocks;
        LnFWeight = lnFWeight;
        LnFBias = lnFBias;
        LmHead = lmHead;
    }

    /// <summary>The hyperparameters.</summary>
    public Gpt2Config Config { get; }

    /// <summary>wte [V, C].</summary>
    public float[] Wte { get; }

    /// <summary>wpe [context, C].</summary>
    public float[] Wpe { get; }

    /// <summary>The blocks h.0 … h.(L−1).</summary>
    public IReadOnlyList<Gpt2Block> Blocks { get; }

    /// <summary>ln_f.weight [C].</summary>
    public float[] LnFWeight { get; }

    /// <summary>ln_f.bias [C].</summary>
    public float[] LnFBias { get; }

    /// <summary>lm_head [V, C]; the same array as <see cref="Wte"/> when tied (GPT-2's default).</summary>
    public float[] LmHead { get; }

    /// <inheritdoc />
    public string Architecture => "gpt2";

    /// <inheritdoc />
    public int VocabSize => Config.VocabSize;

    /// <inheritdoc />
    public int ContextLength => Config.ContextLength;

    /// <inheritdoc />
    public int NumLayers => Config.NumLayers;

    /// <inheritdoc />
    public int NumHeads => Config.NumHeads;

    /// <inheritdoc />
    public int KvNumHeads => Config.NumHeads;

    /// <inheritdoc />
    public int HeadSize => Config.HeadSize;

    /// <summary>
    /// Loads a Hugging Face GPT-2 folder: config.json and model.safetensors (float32, float16 or bfloat16 weights;
    /// names with or without the "transformer." prefix). GPT-2's attn.c_attn, attn.c_proj, mlp.c_fc and mlp.c_proj
    /// are Conv1D layers whose weights are stored [in, out] (y = x·W + b); they are transposed here, once, to the
    /// [out, in] layout every Heed matrix product uses.
    /// </summary>
    /// <exception cref="HeedException">A file is missing, a tensor is missing or has the wrong shape.</exception>
    public static Gpt2Model Load(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Gpt2Config config = Gpt2Config.Load(Path.Combine(folder, "config.json"));
        string weightsPath = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weightsPath))
        {
            throw new HeedException($"model {folder}: no model.safetensors");
        }

        return FromTensors(config, Safetensors.Read(weightsPath), weightsPath);
    }

    /// <summary>Builds the model from named tensors (see <see cref="Load"/> for the layout).</summary>
    /// <exception cref="HeedException">A tensor is missing or has the wrong shape.</exception>
    public static Gpt2Model FromTensors(Gpt2Config config, IReadOnlyDictionary<string, Tensor> tensors, string source = "weights")
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        int c = config.Width, v = config.VocabSize, inner = config.InnerWidth;
        string prefix = tensors.ContainsKey("transformer.wte.weight") ? "transformer." : "";

        float[] Get(string name, params int[] shape)
        {
            if (!tensors.TryGetValue(prefix + name, out Tensor? t) && !tensors.TryGetValue(name, out t))
            {
                throw new HeedException($"{source}: tensor {prefix}{name} is missing");
            }

            if (!t.Shape.SequenceEqual(shape))
            {
                throw new HeedException($"{source}: tensor {prefix}{name} has shape {t.ShapeText}; expected {Tensor.FormatShape(shape)}");
            }

            return t switch
            {
                Tensor<float> f => f.Data,
                _ when t.DType is DType.Float16 or DType.BFloat16 or DType.Float64 => [.. t.ToDoubleArray().Select(x => (float)x)],
                _ => throw new HeedException($"{source}: tensor {prefix}{name} is {DTypes.Name(t.DType)}; expected a float type"),
            };
        }

        // Conv1D [in, out] → [out, in].
        float[] Conv1D(string name, int inFeatures, int outFeatures) => Transpose(Get(name, inFeatures, outFeatures), inFeatures, outFeatures);

        float[] wte = Get("wte.weight", v, c);
        float[] wpe = Get("wpe.weight", config.ContextLength, c);
        var blocks = new Gpt2Block[config.NumLayers];
        for (int l = 0; l < blocks.Length; l++)
        {
            string h = $"h.{l}.";
            blocks[l] = new Gpt2Block
            {
                Ln1Weight = Get(h + "ln_1.weight", c),
                Ln1Bias = Get(h + "ln_1.bias", c),
                CAttnWeight = Conv1D(h + "attn.c_attn.weight", c, 3 * c),
                CAttnBias = Get(h + "attn.c_attn.bias", 3 * c),
                CProjWeight = Conv1D(h + "attn.c_proj.weight", c, c),
                CProjBias = Get(h + "attn.c_proj.bias", c),
                Ln2Weight = Get(h + "ln_2.weight", c),
                Ln2Bias = Get(h + "ln_2.bias", c),
                FcWeight = Conv1D(h + "mlp.c_fc.weight", c, inner),
                FcBias = Get(h + "mlp.c_fc.bias", inner),
                MlpProjWeight = Conv1D(h + "mlp.c_proj.weight", inner, c),
                MlpProjBias = Get(h + "mlp.c_proj.bias", c),
            };
        }

        // lm_head.weight is absent when tied to wte (GPT-2's default); when present it is an nn.Linear, [V, C] already.
        string headName = tensors.ContainsKey("lm_head.weight") ? "lm_head.weight" : "";
        float[] lmHead = headName.Length > 0 ? Get(headName, v, c) : wte;

        return new Gpt2Model(config, wte, wpe, blocks, Get("ln_f.weight", c), Get("ln_f.bias", c), lmHead);
    }

    private static float[] Transpose(float[] m, int rows, int columns)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int col = 0; col < columns; col++) t[(col * rows) + r] = m[(r * columns) + col];
        }

        return t;
    }

    /// <inheritdoc />
    public DecoderSession CreateSession(int capacity)
    {
        if (capacity <= 0 || capacity > Config.ContextLength)
        {
            throw new HeedException($"session capacity {capacity}: expected 1..{Config.ContextLength} (the model's context)");
        }

        return new Session(this, capacity);
    }

    private sealed class Session(Gpt2Model model, int capacity)
        : DecoderSession(new KvCache(model.Config.NumLayers, model.Config.NumHeads, model.Config.HeadSize, capacity), model.Config.VocabSize)
    {
        private Buffers? _buffers;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        protected override void Run(ReadOnlySpan<int> tokens, Span<float> logits, bool allRows, CancellationToken cancellationToken)
        {
            Gpt2Config c = model.Config;
            int rows = tokens.Length, width = c.Width, inner = c.InnerWidth, start = Position;
            Buffers buffers = _buffers is { Rows: var r } existing && r >= rows ? existing : (_buffers = new Buffers(rows, c));
            Span<float> x = buffers.X.AsSpan(0, rows * width), a = buffers.A.AsSpan(0, rows * width), qkv = buffers.Qkv.AsSpan(0, rows * 3 * width);
            Span<float> q = buffers.Q.AsSpan(0, rows * width), k = buffers.K.AsSpan(0, rows * width), v = buffers.V.AsSpan(0, rows * width);
            Span<float> y = buffers.Y.AsSpan(0, rows * width), h = buffers.H.AsSpan(0, rows * inner);

            // x = wte[token] + wpe[position]
            for (int t = 0; t < rows; t++)
            {
                Span<float> row = x.Slice(t * width, width);
                ReadOnlySpan<float> te = model.Wte.AsSpan(tokens[t] * width, width), pe = model.Wpe.AsSpan((start + t) * width, width);
                for (int i = 0; i < width; i++) row[i] = te[i] + pe[i];
            }

            for (int l = 0; l < c.NumLayers; l++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Gpt2Block b = model.Blocks[l];

                // attention: a = ln_1(x); q, k, v = split(c_attn(a)); y = attention; x += c_proj(y)
                Norm.Layer(x, b.Ln1Weight, b.Ln1Bias, a, rows, width, c.LayerNormEpsilon);
                Linear.MatMul(a, b.CAttnWeight, b.CAttnBias, qkv, rows, width, 3 * width, threads: Threads);
                for (int t = 0; t < rows; t++)
                {
                    qkv.Slice(t * 3 * width, width).CopyTo(q.Slice(t * width, width));
                    qkv.Slice((t * 3 * width) + width, width).CopyTo(k.Slice(t * width, width));
                    qkv.Slice((t * 3 * width) + (2 * width), width).CopyTo(v.Slice(t * width, width));
                }

                Cache.Write(l, k, v, rows);
                Cache.Attend(l, q, y, rows, c.NumHeads, this);
                Linear.MatMul(y, b.CProjWeight, b.CProjBias, x, rows, width, width, accumulate: true, threads: Threads);

                // MLP: x += c_proj(gelu(c_fc(ln_2(x))))
                Norm.Layer(x, b.Ln2Weight, b.Ln2Bias, a, rows, width, c.LayerNormEpsilon);
                Linear.MatMul(a, b.FcWeight, b.FcBias, h, rows, width, inner, threads: Threads);
                if (c.Activation == "gelu") Activation.GeluErf(h);
                else Activation.GeluTanh(h);
                Linear.MatMul(h, b.MlpProjWeight, b.MlpProjBias, x, rows, inner, width, accumulate: true, threads: Threads);
            }

            Cache.Commit(rows);
            int first = allRows ? 0 : rows - 1, count = rows - first;
            Norm.Layer(x[(first * width)..], model.LnFWeight, model.LnFBias, a, count, width, c.LayerNormEpsilon);
            Linear.MatMul(a, model.LmHead, default, logits, count, width, c.VocabSize, threads: Threads);
        }

        // Scratch for the largest call so far, reused by every later call (a decode step allocates nothing).
        private sealed class Buffers(int rows, Gpt2Config c)
        {
            public int Rows { get; } = rows;

            public float[] X { get; } = new float[rows * c.Width];

            public float[] A { get; } = new float[rows * c.Width];

            public float[] Qkv { get; } = new float[rows * 3 * c.Width];

            public float[] Q { get; } = new float[rows * c.Width];

            public float[] K { get; } = new float[rows * c.Width];

            public float[] V { get; } = new float[rows * c.Width];

            public float[] Y { get; } = new float[rows * c.Width];

            public float[] H { get; } = new float[rows * c.InnerWidth];
        }
    }
}
