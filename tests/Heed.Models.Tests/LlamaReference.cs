using Heed.Models.Llama;

namespace Heed.Models.Tests;

/// <summary>
/// The forward pass of ../shared/models/README.md written out plainly in float64, one position at a time with its
/// own cache: the independent oracle the model's batched float32 path is compared with.
/// </summary>
internal static class LlamaReference
{
    public static double[][] Logits(LlamaModel model, int[] tokens)
    {
        LlamaConfig c = model.Config;
        LlamaWeights w = model.Weights;
        int dim = c.Dim, hs = c.HeadSize, kvDim = c.KvDim, group = c.NumHeads / c.KvNumHeads;
        var keys = new double[c.NumLayers][][];
        var values = new double[c.NumLayers][][];
        for (int l = 0; l < c.NumLayers; l++)
        {
            keys[l] = new double[tokens.Length][];
            values[l] = new double[tokens.Length][];
        }

        var result = new double[tokens.Length][];
        for (int pos = 0; pos < tokens.Length; pos++)
        {
            var embedded = new float[dim];
            w.TokenEmbedding.DequantizeRow(tokens[pos], embedded);
            double[] x = [.. embedded.Select(f => (double)f)];
            for (int l = 0; l < c.NumLayers; l++)
            {
                LlamaLayer layer = w.Layers[l];
                double[] xb = RmsNorm(x, layer.RmsAtt);
                double[] q = MatVec(layer.Wq.ToFloats(), xb, dim);
                double[] k = MatVec(layer.Wk.ToFloats(), xb, kvDim);
                double[] v = MatVec(layer.Wv.ToFloats(), xb, kvDim);
                Rotate(q, pos, hs);
                Rotate(k, pos, hs);
                keys[l][pos] = k;
                values[l][pos] = v;
                var att = new double[dim];
                for (int h = 0; h < c.NumHeads; h++)
                {
                    int kvh = h / group;
                    var scores = new double[pos + 1];
                    for (int t = 0; t <= pos; t++)
                    {
                        double dot = 0;
                        for (int d = 0; d < hs; d++) dot += q[(h * hs) + d] * keys[l][t][(kvh * hs) + d];
                        scores[t] = dot / Math.Sqrt(hs);
                    }

                    double max = scores.Max(), sum = 0;
                    for (int t = 0; t <= pos; t++) sum += scores[t] = Math.Exp(scores[t] - max);
                    for (int t = 0; t <= pos; t++)
                    {
                        for (int d = 0; d < hs; d++) att[(h * hs) + d] += scores[t] / sum * values[l][t][(kvh * hs) + d];
                    }
                }

                double[] o = MatVec(layer.Wo.ToFloats(), att, dim);
                for (int i = 0; i < dim; i++) x[i] += o[i];
                xb = RmsNorm(x, layer.RmsFfn);
                double[] h1 = MatVec(layer.W1.ToFloats(), xb, c.HiddenDim);
                double[] h3 = MatVec(layer.W3.ToFloats(), xb, c.HiddenDim);
                for (int i = 0; i < h1.Length; i++) h1[i] = h1[i] / (1 + Math.Exp(-h1[i])) * h3[i];
                double[] down = MatVec(layer.W2.ToFloats(), h1, dim);
                for (int i = 0; i < dim; i++) x[i] += down[i];
            }

            result[pos] = MatVec(w.Classifier.ToFloats(), RmsNorm(x, w.RmsFinal), c.VocabSize);
        }

        return result;
    }

    private static double[] RmsNorm(double[] x, float[] weight)
    {
        double ss = 0;
        foreach (double v in x) ss += v * v;
        double inv = 1 / Math.Sqrt((ss / x.Length) + 1e-5);
        return [.. x.Select((v, i) => v * inv * weight[i])];
    }

    private static double[] MatVec(float[] w, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int i = 0; i < x.Length; i++) s += w[(r * x.Length) + i] * x[i];
            y[r] = s;
        }

        return y;
    }

    private static void Rotate(double[] v, int pos, int headSize)
    {
        for (int i = 0; i < v.Length; i += 2)
        {
            int j = i % headSize;
            double angle = pos / Math.Pow(10000, j / (double)headSize);
            double a = v[i], b = v[i + 1];
            v[i] = (a * Math.Cos(angle)) - (b * Math.Sin(angle));
            v[i + 1] = (a * Math.Sin(angle)) + (b * Math.Cos(angle));
        }
    }
}
