using System.Numerics;
using Heed.Models.Gpt2;

namespace Heed.Models.Training;

/// <summary>
/// GPT-2 that learns: the architecture of <see cref="Gpt2Model"/> (learned positions, pre-LayerNorm blocks, causal multi-head
/// attention, a gelu_new MLP, a final LayerNorm, logits through the tied token embedding) with a forward pass that keeps its
/// activations and a backward pass that fills every parameter's gradient. The attention core runs through Heed.Core's
/// <see cref="Attention.ComputeForBackward"/>, which keeps Y and the log-sum-exp for
/// <see cref="Attention.Backward(AttentionInputs, Tensor, AttentionForwardState, AttentionOptions?)"/> (3-D layout [B, T, H·D],
/// causal; in float64, <see cref="Attention.Compute"/> and the reference backward). Parameters carry GPT-2's
/// names, so <see cref="ToTensors"/> is a Hugging Face checkpoint that <see cref="Gpt2Model.FromTensors"/> loads.
/// </summary>
/// <typeparam name="T">float to train; double to check gradients against finite differences.</typeparam>
public sealed class TrainableGpt2<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Parameter<T>[] _parameters;
    private readonly Dictionary<string, Parameter<T>> _byName;
    private Pass? _pass;

    internal TrainableGpt2(Gpt2Config config)
    {
        if (config.Width % config.NumHeads != 0)
        {
            throw new HeedException($"width {config.Width} is not a multiple of the head count {config.NumHeads}");
        }

        Config = config;
        int c = config.Width, inner = config.InnerWidth, v = config.VocabSize;
        var list = new List<Parameter<T>>
        {
            new("wte.weight", [v, c], conv1D: false, decay: true),
            new("wpe.weight", [config.ContextLength, c], conv1D: false, decay: true),
        };
        for (int l = 0; l < config.NumLayers; l++)
        {
            string h = $"h.{l}.";
            list.Add(new(h + "ln_1.weight", [c], false, false));
            list.Add(new(h + "ln_1.bias", [c], false, false));
            list.Add(new(h + "attn.c_attn.weight", [3 * c, c], true, true));
            list.Add(new(h + "attn.c_attn.bias", [3 * c], false, false));
            list.Add(new(h + "attn.c_proj.weight", [c, c], true, true));
            list.Add(new(h + "attn.c_proj.bias", [c], false, false));
            list.Add(new(h + "ln_2.weight", [c], false, false));
            list.Add(new(h + "ln_2.bias", [c], false, false));
            list.Add(new(h + "mlp.c_fc.weight", [inner, c], true, true));
            list.Add(new(h + "mlp.c_fc.bias", [inner], false, false));
            list.Add(new(h + "mlp.c_proj.weight", [c, inner], true, true));
            list.Add(new(h + "mlp.c_proj.bias", [c], false, false));
        }

        list.Add(new("ln_f.weight", [c], false, false));
        list.Add(new("ln_f.bias", [c], false, false));
        _parameters = [.. list];
        _byName = _parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    /// <summary>The hyperparameters (the config.json of a saved checkpoint).</summary>
    public Gpt2Config Config { get; }

    /// <summary>Every parameter in a fixed order: wte, wpe, each block's twelve tensors, ln_f.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>The most threads the matrix products and the attention kernel use (default 1).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>The parameter named <paramref name="name"/> (GPT-2's name).</summary>
    public Parameter<T> this[string name] => _byName[name];

    /// <summary>The parameters as float32 tensors with GPT-2's names and layouts (Conv1D weights [in, out]); no lm_head (tied).</summary>
    public Dictionary<string, Tensor> ToTensors()
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (Parameter<T> p in _parameters)
        {
            int[] shape = p.FileShape;
            var data = new float[p.Value.Length];
            if (p.IsConv1D)
            {
                int rows = shape[0], columns = shape[1];
                for (int r = 0; r < rows; r++)
                {
                    for (int col = 0; col < columns; col++) data[(r * columns) + col] = float.CreateTruncating(p.Value[(col * rows) + r]);
                }
            }
            else
            {
                for (int i = 0; i < data.Length; i++) data[i] = float.CreateTruncating(p.Value[i]);
            }

            tensors[p.Name] = Tensor.Create(data, shape);
        }

        return tensors;
    }

    /// <summary>
    /// The forward pass, keeping every activation for <see cref="Backward"/>. tokens [B, T] (row-major, T ≤ context) → logits [B·T, V].
    /// </summary>
    /// <param name="tokens">B·T token ids below V.</param>
    /// <param name="batch">B.</param>
    /// <param name="length">T.</param>
    /// <param name="captureWeights">When true, also records every layer's attention probabilities of the first sequence (see <see cref="AttentionWeights"/>).</param>
    /// <exception cref="HeedException">A token id is out of range or T exceeds the context.</exception>
    public T[] Forward(int[] tokens, int batch, int length, bool captureWeights = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        Gpt2Config c = Config;
        if (length <= 0 || length > c.ContextLength) throw new HeedException($"sequence length {length}: expected 1..{c.ContextLength} (the context)");
        if (tokens.Length != batch * length) throw new HeedException($"{tokens.Length} tokens for batch {batch} × length {length}");
        foreach (int id in tokens)
        {
            if ((uint)id >= (uint)c.VocabSize) throw new HeedException($"token id {id} is outside the vocabulary 0..{c.VocabSize - 1}");
        }

        int rows = batch * length, width = c.Width, inner = c.InnerWidth;
        Pass pass = _pass is { } existing && existing.Rows == rows && existing.Batch == batch ? existing : (_pass = new Pass(c, batch, length));
        pass.Tokens = tokens;
        pass.Weights = captureWeights ? new double[c.NumLayers][][] : null;
        pass.Scores = captureWeights ? new double[c.NumLayers][][] : null;
        T eps = T.CreateTruncating(c.LayerNormEpsilon);
        EmbeddingLayer.Forward(tokens, this["wte.weight"].Value, this["wpe.weight"].Value, pass.Blocks[0].XIn, batch, length, width);
        for (int l = 0; l < c.NumLayers; l++)
        {
            BlockActivations a = pass.Blocks[l];
            string h = $"h.{l}.";
            T[] xOut = l + 1 < c.NumLayers ? pass.Blocks[l + 1].XIn : pass.XFinal;

            // attention: xMid = xIn + c_proj(attention(split(c_attn(ln_1(xIn)))))
            NormLayer.LayerForward(a.XIn, this[h + "ln_1.weight"].Value, this[h + "ln_1.bias"].Value, a.Ln1, a.Ln1Mean, a.Ln1Rstd, rows, width, eps);
            DenseLayer.Forward(a.Ln1, this[h + "attn.c_attn.weight"].Value, this[h + "attn.c_attn.bias"].Value, a.Qkv, rows, width, 3 * width, Threads);
            for (int r = 0; r < rows; r++)
            {
                a.Qkv.AsSpan(r * 3 * width, width).CopyTo(a.Q.AsSpan(r * width, width));                     // (B, T, H·D)
                a.Qkv.AsSpan((r * 3 * width) + width, width).CopyTo(a.K.AsSpan(r * width, width));
                a.Qkv.AsSpan((r * 3 * width) + (2 * width), width).CopyTo(a.V.AsSpan(r * width, width));
            }

            // float32 keeps Y and L for the backward; float64 runs the reference, which recomputes them anyway.
            a.Saved = typeof(T) == typeof(float) ? Attention.ComputeForBackward(AttentionInputs(a, batch, length), AttentionOptions()) : null;
            Tensor attended = a.Saved?.Output ?? Attention.Compute(AttentionInputs(a, batch, length), AttentionOptions()).Output;
            ((Tensor<T>)attended).Data.CopyTo(a.Att, 0);                                                      // (B, T, H·Dv)
            if (pass.Weights is not null) (pass.Weights[l], pass.Scores![l]) = Probabilities(a.Q, a.K, length);

            DenseLayer.Forward(a.Att, this[h + "attn.c_proj.weight"].Value, this[h + "attn.c_proj.bias"].Value, a.XMid, rows, width, width, Threads);
            for (int i = 0; i < a.XMid.Length; i++) a.XMid[i] += a.XIn[i];

            // MLP: xOut = xMid + c_proj(gelu(c_fc(ln_2(xMid))))
            NormLayer.LayerForward(a.XMid, this[h + "ln_2.weight"].Value, this[h + "ln_2.bias"].Value, a.Ln2, a.Ln2Mean, a.Ln2Rstd, rows, width, eps);
            DenseLayer.Forward(a.Ln2, this[h + "mlp.c_fc.weight"].Value, this[h + "mlp.c_fc.bias"].Value, a.Fc, rows, width, inner, Threads);
            ActivationLayer.GeluForward(a.Fc, a.Gelu);
            DenseLayer.Forward(a.Gelu, this[h + "mlp.c_proj.weight"].Value, this[h + "mlp.c_proj.bias"].Value, xOut, rows, inner, width, Threads);
            for (int i = 0; i < xOut.Length; i++) xOut[i] += a.XMid[i];
        }

        // logits = ln_f(x)·wteᵀ (the head is tied to the token embedding)
        NormLayer.LayerForward(pass.XFinal, this["ln_f.weight"].Value, this["ln_f.bias"].Value, pass.LnF, pass.LnFMean, pass.LnFRstd, rows, width, eps);
        DenseLayer.Forward(pass.LnF, this["wte.weight"].Value, null, pass.Logits, rows, width, c.VocabSize, Threads);
        return pass.Logits;
    }

    /// <summary>
    /// Every layer's attention probabilities of the first sequence of the last <see cref="Forward"/> with captureWeights:
    /// [L][H][T·T], row i = query i's weights over keys 0..T−1 (0 above the diagonal). Computed in float64 from that pass's Q and K.
    /// </summary>
    public double[][][]? AttentionWeights => _pass?.Weights;

    /// <summary>The scores q·k/√D behind <see cref="AttentionWeights"/>, [L][H][T·T], −∞ above the diagonal (masked).</summary>
    public double[][][]? AttentionScores => _pass?.Scores;

    /// <summary>
    /// The backward pass of the last <see cref="Forward"/>: given dlogits [B·T, V], accumulates ∂loss/∂p into every parameter's
    /// <see cref="Parameter{T}.Grad"/> (call <see cref="ZeroGrad"/> first for a fresh gradient).
    /// </summary>
    /// <exception cref="InvalidOperationException">No forward pass ran.</exception>
    public void Backward(T[] dLogits)
    {
        ArgumentNullException.ThrowIfNull(dLogits);
        Pass pass = _pass ?? throw new InvalidOperationException("Backward needs a Forward first");
        Gpt2Config c = Config;
        int batch = pass.Batch, length = pass.Length, rows = pass.Rows, width = c.Width, inner = c.InnerWidth;

        // logits = lnF·wteᵀ: dlnF = dlogits·wte, dwte += dlogitsᵀ·lnF
        T[] dLnF = Zeroed(pass.Scratch1), dx = Zeroed(pass.Dx);
        DenseLayer.Backward(dLogits, pass.LnF, this["wte.weight"].Value, dLnF, this["wte.weight"].Grad, null, rows, width, c.VocabSize, Threads);
        NormLayer.LayerBackward(dLnF, pass.XFinal, this["ln_f.weight"].Value, pass.LnFMean, pass.LnFRstd, dx, this["ln_f.weight"].Grad, this["ln_f.bias"].Grad, rows, width);

        for (int l = c.NumLayers - 1; l >= 0; l--)
        {
            BlockActivations a = pass.Blocks[l];
            string h = $"h.{l}.";

            // MLP: dx is ∂/∂xOut; the residual passes it to xMid unchanged.
            T[] dGelu = Zeroed(pass.InnerScratch1), dFc = Zeroed(pass.InnerScratch2), dLn2 = Zeroed(pass.Scratch1);
            DenseLayer.Backward(dx, a.Gelu, this[h + "mlp.c_proj.weight"].Value, dGelu, this[h + "mlp.c_proj.weight"].Grad, this[h + "mlp.c_proj.bias"].Grad, rows, inner, width, Threads);
            ActivationLayer.GeluBackward(dGelu, a.Fc, dFc);
            DenseLayer.Backward(dFc, a.Ln2, this[h + "mlp.c_fc.weight"].Value, dLn2, this[h + "mlp.c_fc.weight"].Grad, this[h + "mlp.c_fc.bias"].Grad, rows, width, inner, Threads);
            NormLayer.LayerBackward(dLn2, a.XMid, this[h + "ln_2.weight"].Value, a.Ln2Mean, a.Ln2Rstd, dx, this[h + "ln_2.weight"].Grad, this[h + "ln_2.bias"].Grad, rows, width);

            // attention: dx is now ∂/∂xMid; the residual passes it to xIn unchanged.
            T[] dAtt = Zeroed(pass.Scratch1);
            DenseLayer.Backward(dx, a.Att, this[h + "attn.c_proj.weight"].Value, dAtt, this[h + "attn.c_proj.weight"].Grad, this[h + "attn.c_proj.bias"].Grad, rows, width, width, Threads);
            AttentionGradients g = a.Saved is AttentionForwardState saved
                ? Attention.Backward(AttentionInputs(a, batch, length), Tensor.Create(dAtt, batch, length, width), saved, AttentionOptions())
                : Attention.Backward(AttentionInputs(a, batch, length), Tensor.Create(dAtt, batch, length, width), AttentionOptions());
            T[] dq = ((Tensor<T>)g.GradQuery).Data, dk = ((Tensor<T>)g.GradKey).Data, dv = ((Tensor<T>)g.GradValue).Data;
            T[] dQkv = pass.QkvScratch;                                                                       // (N, 3C)
            for (int r = 0; r < rows; r++)
            {
                dq.AsSpan(r * width, width).CopyTo(dQkv.AsSpan(r * 3 * width, width));
                dk.AsSpan(r * width, width).CopyTo(dQkv.AsSpan((r * 3 * width) + width, width));
                dv.AsSpan(r * width, width).CopyTo(dQkv.AsSpan((r * 3 * width) + (2 * width), width));
            }

            T[] dLn1 = Zeroed(pass.Scratch2);
            DenseLayer.Backward(dQkv, a.Ln1, this[h + "attn.c_attn.weight"].Value, dLn1, this[h + "attn.c_attn.weight"].Grad, this[h + "attn.c_attn.bias"].Grad, rows, width, 3 * width, Threads);
            NormLayer.LayerBackward(dLn1, a.XIn, this[h + "ln_1.weight"].Value, a.Ln1Mean, a.Ln1Rstd, dx, this[h + "ln_1.weight"].Grad, this[h + "ln_1.bias"].Grad, rows, width);
        }

        EmbeddingLayer.Backward(pass.Tokens, dx, this["wte.weight"].Grad, this["wpe.weight"].Grad, batch, length, width);
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (Parameter<T> p in _parameters) Array.Clear(p.Grad);
    }

    /// <summary>
    /// One forward and backward pass of the next-token loss: tokens [B, T], targets [B, T] (the token that follows each position,
    /// or <see cref="CrossEntropyLoss.Ignore"/>) → the mean cross-entropy; every gradient is replaced by this batch's.
    /// </summary>
    public double LossAndGradients(int[] tokens, int[] targets, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(targets);
        T[] logits = Forward(tokens, batch, length);
        var dLogits = new T[logits.Length];
        double loss = CrossEntropyLoss.Compute(logits, targets, dLogits, batch * length, Config.VocabSize);
        ZeroGrad();
        Backward(dLogits);
        return loss;
    }

    /// <summary>The mean cross-entropy of a batch without gradients (see <see cref="LossAndGradients"/>).</summary>
    public double Loss(int[] tokens, int[] targets, int batch, int length)
    {
        ArgumentNullException.ThrowIfNull(targets);
        T[] logits = Forward(tokens, batch, length);
        return CrossEntropyLoss.Compute(logits, targets, new T[logits.Length], batch * length, Config.VocabSize);
    }

    private static T[] Zeroed(T[] buffer)
    {
        Array.Clear(buffer);
        return buffer;
    }

    private static AttentionInputs AttentionInputs(BlockActivations a, int batch, int length)
    {
        int width = a.Q.Length / (batch * length);
        return new AttentionInputs(Tensor.Create(a.Q, batch, length, width), Tensor.Create(a.K, batch, length, width), Tensor.Create(a.V, batch, length, width));
    }

    private AttentionOptions AttentionOptions() => new() { QNumHeads = Config.NumHeads, KvNumHeads = Config.NumHeads, IsCausal = true, MaxThreads = Threads };

    // softmax(q·kᵀ/√D) of the first sequence, causal, and the scores: [H][T·T] each.
    private (double[][] Weights, double[][] Scores) Probabilities(T[] q, T[] k, int length)
    {
        int heads = Config.NumHeads, d = Config.HeadSize, width = Config.Width;
        double scale = 1 / Math.Sqrt(d);
        var result = new double[heads][];
        var scores = new double[heads][];
        for (int h = 0; h < heads; h++)
        {
            var p = new double[length * length];
            var z = new double[length * length];
            Array.Fill(z, double.NegativeInfinity);
            for (int i = 0; i < length; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j <= i; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += double.CreateTruncating(q[(i * width) + (h * d) + e]) * double.CreateTruncating(k[(j * width) + (h * d) + e]);
                    p[(i * length) + j] = z[(i * length) + j] = dot * scale;
                    max = Math.Max(max, dot * scale);
                }

                double sum = 0;
                for (int j = 0; j <= i; j++) sum += p[(i * length) + j] = Math.Exp(p[(i * length) + j] - max);
                for (int j = 0; j <= i; j++) p[(i * length) + j] /= sum;
            }

            result[h] = p;
            scores[h] = z;
        }

        return (result, scores);
    }

    // Activations of one block for one batch shape; N = B·T rows.
    private sealed class BlockActivations(int rows, int width, int inner)
    {
        public T[] XIn { get; } = new T[rows * width];          // (N, C) residual stream entering the block

        public T[] Ln1 { get; } = new T[rows * width];

        public T[] Ln1Mean { get; } = new T[rows];

        public T[] Ln1Rstd { get; } = new T[rows];

        public T[] Qkv { get; } = new T[rows * 3 * width];      // (N, 3C)

        public T[] Q { get; } = new T[rows * width];            // (B, T, H·D)

        public T[] K { get; } = new T[rows * width];

        public T[] V { get; } = new T[rows * width];

        public T[] Att { get; } = new T[rows * width];          // (B, T, H·Dv) attention output before c_proj

        public AttentionForwardState? Saved { get; set; }       // Y and L of the attention core (float32)

        public T[] XMid { get; } = new T[rows * width];         // (N, C) after the attention's residual

        public T[] Ln2 { get; } = new T[rows * width];

        public T[] Ln2Mean { get; } = new T[rows];

        public T[] Ln2Rstd { get; } = new T[rows];

        public T[] Fc { get; } = new T[rows * inner];           // (N, 4C) before GELU

        public T[] Gelu { get; } = new T[rows * inner];
    }

    private sealed class Pass(Gpt2Config c, int batch, int length)
    {
        public int Batch { get; } = batch;

        public int Length { get; } = length;

        public int Rows { get; } = batch * length;

        public int[] Tokens { get; set; } = [];

        public double[][][]? Weights { get; set; }

        public double[][][]? Scores { get; set; }

        public BlockActivations[] Blocks { get; } = [.. Enumerable.Range(0, c.NumLayers).Select(_ => new BlockActivations(batch * length, c.Width, c.InnerWidth))];

        public T[] XFinal { get; } = new T[batch * length * c.Width];

        public T[] LnF { get; } = new T[batch * length * c.Width];

        public T[] LnFMean { get; } = new T[batch * length];

        public T[] LnFRstd { get; } = new T[batch * length];

        public T[] Logits { get; } = new T[batch * length * c.VocabSize];

        public T[] Dx { get; } = new T[batch * length * c.Width];

        public T[] Scratch1 { get; } = new T[batch * length * c.Width];

        public T[] Scratch2 { get; } = new T[batch * length * c.Width];

        public T[] QkvScratch { get; } = new T[batch * length * 3 * c.Width];

        public T[] InnerScratch1 { get; } = new T[batch * length * c.InnerWidth];

        public T[] InnerScratch2 { get; } = new T[batch * length * c.InnerWidth];
    }
}

/// <summary>Creates <see cref="TrainableGpt2{T}"/> models: freshly initialised, or from a checkpoint's tensors.</summary>
public static class TrainableGpt2
{
    /// <summary>
    /// A new model initialised as GPT-2 is: every matrix and embedding from N(0, 0.02²), each residual projection (attn.c_proj,
    /// mlp.c_proj) from N(0, (0.02/√(2L))²), biases 0, norm gains 1. The same seed gives the same weights.
    /// </summary>
    public static TrainableGpt2<T> Create<T>(Gpt2Config config, ulong seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        var model = new TrainableGpt2<T>(config);
        var random = new TrainingRandom(seed);
        double projection = 0.02 / Math.Sqrt(2.0 * config.NumLayers);
        foreach (Parameter<T> p in model.Parameters)
        {
            if (p.Name.EndsWith(".bias", StringComparison.Ordinal)) continue;
            if (p.Name.Contains("ln_", StringComparison.Ordinal))
            {
                Array.Fill(p.Value, T.One);
                continue;
            }

            double std = p.Name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? projection : 0.02;
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = T.CreateTruncating(std * random.NextNormal());
        }

        return model;
    }

    /// <summary>A model holding the given GPT-2 tensors (Hugging Face names and layouts; "transformer." prefix optional).</summary>
    /// <exception cref="HeedException">A tensor is missing or has the wrong shape.</exception>
    public static TrainableGpt2<T> FromTensors<T>(Gpt2Config config, IReadOnlyDictionary<string, Tensor> tensors, string source = "weights")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        var model = new TrainableGpt2<T>(config);
        foreach (Parameter<T> p in model.Parameters)
        {
            if (!tensors.TryGetValue(p.Name, out Tensor? t) && !tensors.TryGetValue("transformer." + p.Name, out t))
            {
                throw new HeedException($"{source}: tensor {p.Name} is missing");
            }

            int[] shape = p.FileShape;
            if (!t.Shape.SequenceEqual(shape))
            {
                throw new HeedException($"{source}: tensor {p.Name} has shape {t.ShapeText}; expected {Tensor.FormatShape(shape)}");
            }

            double[] values = t.ToDoubleArray();
            if (p.IsConv1D)
            {
                int rows = shape[0], columns = shape[1];
                for (int r = 0; r < rows; r++)
                {
                    for (int col = 0; col < columns; col++) p.Value[(col * rows) + r] = T.CreateTruncating(values[(r * columns) + col]);
                }
            }
            else
            {
                for (int i = 0; i < values.Length; i++) p.Value[i] = T.CreateTruncating(values[i]);
            }
        }

        return model;
    }

}
