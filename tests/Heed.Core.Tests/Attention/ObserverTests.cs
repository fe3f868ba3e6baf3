using static Heed.Core.Tests.TestTensors;

namespace Heed.Core.Tests.Attention;

public class ObserverTests
{
    private sealed class Recorder : IAttentionObserver
    {
        public List<AttentionCapture> Captures { get; } = [];

        public void OnAttention(AttentionCapture capture) => Captures.Add(capture);
    }

    [Fact]
    public void Observer_receives_every_step_in_4d_float64()
    {
        // 3-D float32 input, 2 query heads sharing 1 kv head, causal: the capture is in the 4-D layout.
        var q = Tensor.FromDoubles(DType.Float32, [1, 3, 4], Random(1, 12));
        var k = Tensor.FromDoubles(DType.Float32, [1, 3, 2], Random(2, 6));
        var v = Tensor.FromDoubles(DType.Float32, [1, 3, 2], Random(3, 6));
        var recorder = new Recorder();
        var options = new AttentionOptions { QNumHeads = 2, KvNumHeads = 1, IsCausal = true, Observer = recorder };
        AttentionResult result = Heed.Attention.Compute(new AttentionInputs(q, k, v), options);

        AttentionCapture c = Assert.Single(recorder.Captures);
        Assert.Equal([1, 2, 3, 2], c.Query!.Shape.ToArray());
        Assert.Equal([1, 2, 3, 3], c.Probabilities.Shape.ToArray());
        Assert.Equal(double.NegativeInfinity, c.Scores!.Data[1]); // query 0 may not see key 1
        Assert.Equal(1.0, c.Probabilities.Data[0], 12);          // query 0 sees only key 0
        var direct = Heed.Attention.Compute(new AttentionInputs(q, k, v), options with { Observer = null, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        Close(direct.QkMatmulOutput!.ToDoubleArray(), c.Probabilities, 1e-7);
        Close(direct.Output.ToDoubleArray(), result.Output, 1e-6); // two kernels (decode, materialized): float32 rounding differs
    }
}
