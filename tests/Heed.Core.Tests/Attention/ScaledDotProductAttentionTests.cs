using static Heed.Core.Tests.TestTensors;

namespace Heed.Core.Tests.Attention;

public class ScaledDotProductAttentionTests
{
    [Fact]
    public void Matches_the_onnx_entry_point()
    {
        var q = F32(Random(1, 2 * 3 * 4).Select(x => (float)x).ToArray(), 1, 2, 3, 4);
        var k = F32(Random(2, 2 * 5 * 4).Select(x => (float)x).ToArray(), 1, 2, 5, 4);
        var v = F32(Random(3, 2 * 5 * 4).Select(x => (float)x).ToArray(), 1, 2, 5, 4);
        var sdpa = Heed.Attention.ScaledDotProductAttention(q, k, v, isCausal: true);
        var onnx = Heed.Attention.Compute(new AttentionInputs(q, k, v), new AttentionOptions { IsCausal = true }).Output;
        Assert.Equal(DType.Float32, sdpa.DType);
        Close(onnx.ToDoubleArray(), sdpa, 0);
    }

    [Fact]
    public void Gqa_needs_enable_gqa()
    {
        var q = F64(new double[4 * 2], 1, 4, 1, 2);
        var k = F64(new double[2 * 3 * 2], 1, 2, 3, 2);
        var ex = Assert.Throws<HeedException>(() => Heed.Attention.ScaledDotProductAttention(q, k, k));
        Assert.Contains("pass enableGqa", ex.Message, StringComparison.Ordinal);
        var y = Heed.Attention.ScaledDotProductAttention(q, k, k, enableGqa: true);
        Assert.Equal([1, 4, 1, 2], y.Shape.ToArray());
    }

    [Fact]
    public void Mask_and_causal_together_are_refused_as_in_pytorch()
    {
        var q = F64(new double[2], 1, 1, 1, 2);
        var ex = Assert.Throws<HeedException>(() => Heed.Attention.ScaledDotProductAttention(q, q, q, Bool([true], 1, 1), isCausal: true));
        Assert.Contains("not both", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Last_axis_of_one_broadcasts_like_pytorch()
    {
        // A [T, 1] mask of true broadcasts over all keys (PyTorch), rather than masking keys 1.. (ONNX short mask).
        var q = F64([1], 1, 1, 1, 1);
        var k = F64([0, 1], 1, 1, 2, 1);
        var v = F64([10, 20], 1, 1, 2, 1);
        var y = Heed.Attention.ScaledDotProductAttention(q, k, v, Bool([true], 1, 1), scale: 1);
        Close([(10 + (20 * Math.E)) / (1 + Math.E)], y);
    }
}
