using Heed.Models.Generation;
using Heed.Models.Llama;

namespace Heed.Models.Tests;

/// <summary>Per-layer, per-head attention capture through Core's observer hook.</summary>
public class AttentionCaptureTests
{
    private static LlamaModel Tiny()
    {
        using var folder = new TempFolder();
        string path = folder.File("tiny.bin");
        File.WriteAllBytes(path, LlamaCheckpointTests.Write(16, 24, 3, 4, 2, 40, 16, shared: true, seed: 5));
        return LlamaModel.Load(path);
    }

    [Fact]
    public void Forward_records_causal_probabilities_per_layer_and_head()
    {
        LlamaModel model = Tiny();
        int[] tokens = [1, 9, 4, 22, 3];
        ModelOutput output = model.Forward(tokens, new AttentionCaptureOptions());
        Assert.Equal(3, output.Attention.Count);
        for (int l = 0; l < 3; l++)
        {
            LayerAttention a = output.Attention[l];
            Assert.Equal(l, a.Layer);
            Assert.Equal([4, 5, 5], a.Probabilities.Shape.ToArray()); // [H, T, S]
            Assert.Null(a.Query);
            Assert.Null(a.Scores);
            for (int h = 0; h < 4; h++)
            {
                for (int t = 0; t < 5; t++)
                {
                    double sum = 0;
                    for (int s = 0; s < 5; s++)
                    {
                        double p = a.Probabilities.Data[(((h * 5) + t) * 5) + s];
                        if (s > t) Assert.Equal(0, p); // the future is masked
                        sum += p;
                    }

                    Assert.Equal(1, sum, 12);
                }
            }
        }

        Assert.Equal(1, output.Attention[0].Probabilities.Data[0], 12); // query 0 sees only key 0
    }

    [Theory]
    [InlineData(3)] // T < D
    [InlineData(4)] // T = D
    [InlineData(6)] // T > D: Q keeps its head size, not the sequence length
    public void Captured_q_k_v_reproduce_the_probabilities_with_the_gqa_mapping(int length)
    {
        LlamaModel model = Tiny();
        int[] tokens = new[] { 1, 9, 4, 22, 3, 17 }[..length];
        ModelOutput output = model.Forward(tokens, new AttentionCaptureOptions { QueryKeyValue = true, Scores = true });
        LayerAttention a = output.Attention[1];
        const int D = 4;
        int t0 = length;
        Assert.Equal([4, t0, D], a.Query!.Shape.ToArray());
        Assert.Equal([2, t0, D], a.Key!.Shape.ToArray()); // [Hkv, S, D]
        Assert.Equal([2, t0, D], a.Value!.Shape.ToArray());
        for (int h = 0; h < 4; h++)
        {
            int kvHead = h / 2;
            for (int t = 0; t < t0; t++)
            {
                var scores = new double[t + 1];
                for (int s = 0; s <= t; s++)
                {
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += a.Query.Data[(((h * t0) + t) * D) + d] * a.Key.Data[(((kvHead * t0) + s) * D) + d];
                    scores[s] = dot / 2; // 1/√D, D = 4
                    Assert.Equal(scores[s], a.Scores!.Data[(((h * t0) + t) * t0) + s], 9);
                }

                double max = scores.Max(), sum = scores.Sum(x => Math.Exp(x - max));
                for (int s = 0; s <= t; s++)
                {
                    Assert.Equal(Math.Exp(scores[s] - max) / sum, a.Probabilities.Data[(((h * t0) + t) * t0) + s], 9);
                }
            }
        }
    }

    [Fact]
    public void Decode_steps_record_one_query_row_over_the_cache_and_without_a_recorder_nothing()
    {
        LlamaModel model = Tiny();
        DecoderSession session = model.CreateSession(8);
        session.Forward([1, 9, 4]);
        var recorder = new AttentionRecorder();
        session.Recorder = recorder;
        session.Forward([22]);
        Assert.Equal(3, recorder.Records.Count);
        LayerAttention step = recorder.Records[2];
        Assert.Equal(3, step.StartPosition);
        Assert.Equal([4, 1, 4], step.Probabilities.Shape.ToArray()); // one query row over S = 4 positions

        // the same numbers as the last row of a whole-sequence capture
        LayerAttention whole = model.Forward([1, 9, 4, 22], new AttentionCaptureOptions()).Attention[2];
        for (int h = 0; h < 4; h++)
        {
            for (int s = 0; s < 4; s++)
            {
                Assert.Equal(whole.Probabilities.Data[(((h * 4) + 3) * 4) + s], step.Probabilities.Data[(h * 4) + s], 1e-6);
            }
        }

        session.Recorder = null;
        session.Forward([5]);
        Assert.Equal(3, recorder.Records.Count);
    }
}
