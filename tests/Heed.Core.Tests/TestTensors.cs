namespace Heed.Core.Tests;

/// <summary>Small helpers to build tensors and compare values in tests.</summary>
internal static class TestTensors
{
    public static Tensor<double> F64(double[] data, params int[] shape) => Tensor.Create(data, shape);

    public static Tensor<float> F32(float[] data, params int[] shape) => Tensor.Create(data, shape);

    public static Tensor<bool> Bool(bool[] data, params int[] shape) => Tensor.Create(data, shape);

    public static Tensor<long> I64(long[] data, params int[] shape) => Tensor.Create(data, shape);

    /// <summary>Deterministic pseudo-random values in [-2, 2).</summary>
    public static double[] Random(int seed, int count)
    {
        var rng = new Random(seed);
        var data = new double[count];
        for (int i = 0; i < count; i++) data[i] = (rng.NextDouble() * 4) - 2;
        return data;
    }

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance = 1e-12)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNaN(expected[i]) || double.IsNaN(actual[i]))
            {
                Assert.True(double.IsNaN(expected[i]) && double.IsNaN(actual[i]), $"element {i}: expected {expected[i]}, got {actual[i]}");
                continue;
            }

            if (double.IsInfinity(expected[i]) || double.IsInfinity(actual[i]))
            {
                Assert.True(expected[i] == actual[i], $"element {i}: expected {expected[i]}, got {actual[i]}");
                continue;
            }

            double diff = Math.Abs(expected[i] - actual[i]);
            if (diff > worst)
            {
                worst = diff;
                worstAt = i;
            }
        }

        Assert.True(worst <= tolerance, $"max difference {worst:G6} at element {worstAt} exceeds {tolerance:G3}: expected {(worstAt >= 0 ? expected[worstAt] : 0)}, got {(worstAt >= 0 ? actual[worstAt] : 0)}");
    }

    public static void Close(ReadOnlySpan<double> expected, Tensor actual, double tolerance = 1e-12) =>
        Close(expected, actual.ToDoubleArray(), tolerance);
}
