using Heed.Models.Blocks;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;

namespace Heed.Explain;

/// <summary>
/// An adapter that gives one layer's Q, K and V exactly as the model computes them: it reruns the model's layers
/// 0..L in float32 with the model's own public weights and blocks (the same calls, in the same order, as
/// <see cref="LlamaModel"/> and <see cref="Gpt2Model"/>), and hands layer L's attention inputs to Heed.Core's
/// <see cref="Attention.Compute"/> with an observer. Needed because <see cref="AttentionRecorder"/> keeps Q [H, T, D]
/// only when T = D (it trims the query's columns to T); its probabilities, scores, K and V are right and are what
/// <see cref="ModelAttentionRun"/> shows. Tests check that the replay's scores equal the recorder's.
/// </summary>
internal static class QueryKeyValueReplay
{
    /// <summary>The capture of layer <paramref name="layer"/> for tokens [T] run from position 0 (batch 1).</summary>
    /// <exception cref="HeedException">The model's architecture is not one Heed can replay.</exception>
    public static AttentionCapture Capture(ICausalLanguageModel model, int[] ids, int layer, bool useReference, int threads)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model switch
        {
            LlamaModel llama => Llama(llama, ids, layer, useReference, threads),
            Gpt2Model gpt2 => Gpt2(gpt2, ids, layer, useReference, threads),
            _ => throw new HeedException($"--model: Heed cannot trace Q, K and V of the {model.Architecture} architecture"),
        };
    }

    private static AttentionCapture Llama(LlamaModel model, int[] ids, int layer, bool useReference, int threads)
    {
        LlamaConfig c = model.Config;
        LlamaWeights w = model.Weights;
        int rows = ids.Length, dim = c.Dim, kvDim = c.KvDim, hidden = c.HiddenDim;
        var x = new float[rows * dim];
        for (int t = 0; t < rows; t++) w.TokenEmbedding.AsSpan(ids[t] * dim, dim).CopyTo(x.AsSpan(t * dim, dim));
        float[] xb = new float[rows * dim], q = new float[rows * dim], k = new float[rows * kvDim], v = new float[rows * kvDim];
        float[] hb = new float[rows * hidden], hb2 = new float[rows * hidden];
        for (int l = 0; ; l++)
        {
            LlamaLayer p = w.Layers[l];
            Norm.Rms(x, p.RmsAtt, xb, rows, dim, c.NormEpsilon);
            Linear.MatMul(xb, p.Wq, default, q, rows, dim, dim, threads: threads);
            Linear.MatMul(xb, p.Wk, default, k, rows, dim, kvDim, threads: threads);
            Linear.MatMul(xb, p.Wv, default, v, rows, dim, kvDim, threads: threads);
            Rope.ApplyInterleaved(q, rows, c.NumHeads, c.HeadSize, 0, c.RopeTheta);
            Rope.ApplyInterleaved(k, rows, c.KvNumHeads, c.HeadSize, 0, c.RopeTheta);
            (float[]? att, AttentionCapture? capture) = Attend(q, k, v, rows, c.NumHeads, c.KvNumHeads, c.HeadSize, l == layer, useReference);
            if (capture is not null) return capture;
            Linear.MatMul(att, p.Wo, default, x, rows, dim, dim, accumulate: true, threads: threads);
            Norm.Rms(x, p.RmsFfn, xb, rows, dim, c.NormEpsilon);
            Linear.MatMul(xb, p.W1, default, hb, rows, dim, hidden, threads: threads);
            Linear.MatMul(xb, p.W3, default, hb2, rows, dim, hidden, threads: threads);
            Activation.SwiGlu(hb, hb2);
            Linear.MatMul(hb, p.W2, default, x, rows, hidden, dim, accumulate: true, threads: threads);
        }
    }

    private static AttentionCapture Gpt2(Gpt2Model model, int[] ids, int layer, bool useReference, int threads)
    {
        Gpt2Config c = model.Config;
        int rows = ids.Length, width = c.Width, inner = c.InnerWidth;
        var x = new float[rows * width];
        for (int t = 0; t < rows; t++)
        {
            for (int i = 0; i < width; i++) x[(t * width) + i] = model.Wte[(ids[t] * width) + i] + model.Wpe[(t * width) + i];
        }

        float[] a = new float[rows * width], qkv = new float[rows * 3 * width], h = new float[rows * inner];
        float[] q = new float[rows * width], k = new float[rows * width], v = new float[rows * width];
        for (int l = 0; ; l++)
        {
            Gpt2Block b = model.Blocks[l];
            Norm.Layer(x, b.Ln1Weight, b.Ln1Bias, a, rows, width, c.LayerNormEpsilon);
            Linear.MatMul(a, b.CAttnWeight, b.CAttnBias, qkv, rows, width, 3 * width, threads: threads);
            for (int t = 0; t < rows; t++)
            {
                qkv.AsSpan(t * 3 * width, width).CopyTo(q.AsSpan(t * width, width));
                qkv.AsSpan((t * 3 * width) + width, width).CopyTo(k.AsSpan(t * width, width));
                qkv.AsSpan((t * 3 * width) + (2 * width), width).CopyTo(v.AsSpan(t * width, width));
            }

            (float[]? y, AttentionCapture? capture) = Attend(q, k, v, rows, c.NumHeads, c.NumHeads, c.HeadSize, l == layer, useReference);
            if (capture is not null) return capture;
            Linear.MatMul(y, b.CProjWeight, b.CProjBias, x, rows, width, width, accumulate: true, threads: threads);
            Norm.Layer(x, b.Ln2Weight, b.Ln2Bias, a, rows, width, c.LayerNormEpsilon);
            Linear.MatMul(a, b.FcWeight, b.FcBias, h, rows, width, inner, threads: threads);
            if (c.Activation == "gelu") Activation.GeluErf(h);
            else Activation.GeluTanh(h);
            Linear.MatMul(h, b.MlpProjWeight, b.MlpProjBias, x, rows, inner, width, accumulate: true, threads: threads);
        }
    }

    // q [T, H·D], k and v [T, Hkv·D] → causal attention y [T, H·D], or the capture when asked for.
    private static (float[]? Y, AttentionCapture? Capture) Attend(float[] q, float[] k, float[] v, int rows, int heads, int kvHeads, int headSize, bool capture, bool useReference)
    {
        var collector = capture ? new CaptureCollector() : null;
        var inputs = new AttentionInputs(ToHeads(q, rows, heads, headSize), ToHeads(k, rows, kvHeads, headSize), ToHeads(v, rows, kvHeads, headSize));
        var output = (Tensor<float>)Attention.Compute(inputs, new AttentionOptions { IsCausal = true, UseReference = useReference, Observer = collector }).Output;
        if (collector is not null) return (null, collector.Captures[0]);
        var y = new float[rows * heads * headSize];
        for (int h = 0; h < heads; h++)
        {
            for (int t = 0; t < rows; t++)
            {
                output.Data.AsSpan(((h * rows) + t) * headSize, headSize).CopyTo(y.AsSpan(((t * heads) + h) * headSize, headSize));
            }
        }

        return (y, null);
    }

    // [T, heads·D] → [1, heads, T, D]
    private static Tensor<float> ToHeads(float[] m, int rows, int heads, int headSize)
    {
        var data = new float[rows * heads * headSize];
        for (int t = 0; t < rows; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                m.AsSpan(((t * heads) + h) * headSize, headSize).CopyTo(data.AsSpan(((h * rows) + t) * headSize, headSize));
            }
        }

        return new Tensor<float>([1, heads, rows, headSize], data);
    }
}
