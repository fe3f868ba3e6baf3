namespace Heed.Core.Tests;

public class TensorTests
{
    [Fact]
    public void FromDoubles_rounds_to_each_type()
    {
        double[] values = [1.0 / 3.0, -2.5, 65504, 1e-8];
        var f16 = (Tensor<Half>)Tensor.FromDoubles(DType.Float16, [4], values);
        Assert.Equal((Half)(1.0 / 3.0), f16.Data[0]);
        Assert.Equal(65504.0, (double)f16.Data[2]);
        var bf16 = (Tensor<BFloat16>)Tensor.FromDoubles(DType.BFloat16, [2, 2], values);
        Assert.Equal(0.333984375, (double)bf16.Data[0]);
        Assert.Equal(-2.5, (double)bf16.Data[1]);
        Assert.Equal([2, 2], bf16.Shape.ToArray());
    }

    [Theory]
    [InlineData(1.0, 0x3F80)]
    [InlineData(-2.0, 0xC000)]
    [InlineData(1.00390625, 0x3F80)] // exactly halfway between 0x3F80 and 0x3F81: ties to even
    [InlineData(1.01171875, 0x3F82)] // halfway between 0x3F81 and 0x3F82: ties to even (up)
    [InlineData(1.0039062500000002, 0x3F81)] // a hair above halfway: a double-rounding trap through float
    [InlineData(double.PositiveInfinity, 0x7F80)]
    public void BFloat16_rounds_to_nearest_even(double value, int expectedBits)
    {
        Assert.Equal((ushort)expectedBits, ((BFloat16)value).RawValue);
    }

    [Fact]
    public void BFloat16_keeps_nan()
    {
        Assert.True(float.IsNaN((float)(BFloat16)double.NaN));
        Assert.True(float.IsNaN((float)(BFloat16)float.NaN));
    }

    [Theory]
    [InlineData(new[] { 2147483647, 0 })]
    [InlineData(new[] { 65536, 65536, 0, 3 })]
    [InlineData(new[] { 0, 2147483647, 2147483647 })]
    public void A_zero_axis_gives_zero_elements_whatever_the_others_hold(int[] shape)
    {
        // Multiplied left to right, [2147483647, 0] passed the array limit before it reached the 0.
        Assert.Equal(0, Tensor.CheckedLength(shape));
        Assert.Equal(0, Tensor.Zeros(DType.Float32, shape).Length);
    }

    [Fact]
    public void Counts_over_the_array_limit_and_negative_sizes_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Tensor.CheckedLength([65536, 65536]));
        Assert.Throws<ArgumentException>(() => Tensor.CheckedLength([2, -1, 0]));
        Assert.Equal(Array.MaxLength, Tensor.CheckedLength([Array.MaxLength, 1]));
        Assert.Equal("[2, 2, 2, 2, 2, 2, 2, 2, ..., 2, 2] (rank 13)", Tensor.FormatShape([.. Enumerable.Repeat(2, 13)]));
    }

    [Fact]
    public void Reshape_shares_storage_and_checks_count()
    {
        var t = Tensor.Create(new float[6], 2, 3);
        var r = (Tensor<float>)t.Reshape(3, 2);
        r.Data[5] = 7;
        Assert.Equal(7, t.Data[5]);
        var ex = Assert.Throws<ArgumentException>(() => t.Reshape(4, 2));
        Assert.Contains("[2, 3]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int64_refuses_fractions()
    {
        Assert.Throws<ArgumentException>(() => Tensor.FromDoubles(DType.Int64, [1], [1.5]));
        var t = (Tensor<long>)Tensor.FromDoubles(DType.Int64, [2], [3, -4]);
        Assert.Equal([3L, -4L], t.Data);
    }
}
