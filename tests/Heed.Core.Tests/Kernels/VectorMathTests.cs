using Heed.Kernels;

namespace Heed.Core.Tests.Kernels;

/// <summary>The vector exp and tanh: the stated error bound over their whole range, special values, and lengths 0..67 (register tails).</summary>
public class VectorMathTests
{
    public static TheoryData<SimdTier> Tiers => [SimdTier.Vector512, SimdTier.Vector256, SimdTier.Vector128, SimdTier.Scalar];

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Exp_is_within_its_stated_relative_error_over_the_whole_range(SimdTier tier)
    {
        // 2^20 points spread over [−87.33, 88] plus the rounding boundaries of n = round(x·log2 e).
        const int N = 1 << 20;
        var x = new float[N + 512];
        for (int i = 0; i < N; i++) x[i] = VectorMath.ExpLow + ((88f - VectorMath.ExpLow) * i / (N - 1));
        for (int i = 0; i < 512; i++) x[N + i] = (float)((i - 256 + 0.5) * Math.Log(2)) + (i % 2 == 0 ? 1e-6f : -1e-6f);
        var y = new float[x.Length];
        VectorMath.Exp(tier, x, y);

        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] < VectorMath.ExpLow || x[i] > VectorMath.ExpHigh) continue;
            double exact = Math.Exp(x[i]);
            double error = Math.Abs(y[i] - exact) / exact;
            if (error > worst)
            {
                worst = error;
                worstAt = x[i];
            }
        }

        Assert.True(worst <= VectorMath.ExpMaxRelativeError, $"exp on {tier}: max relative error {worst:G4} at x = {worstAt:G9} exceeds {VectorMath.ExpMaxRelativeError:G3}");
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Exp_special_values(SimdTier tier)
    {
        float[] x = [float.NegativeInfinity, -1000f, -87.4f, 0f, -0f, float.NaN, 89f, float.PositiveInfinity, 1f, -1f, -87.33f, 88f, 0, 0, 0, 0, 0];
        float[] expected = [0f, 0f, 0f, 1f, 1f, float.NaN, float.PositiveInfinity, float.PositiveInfinity, MathF.E, 1 / MathF.E, 0f, 1.6516363e38f, 1, 1, 1, 1, 1];
        var y = new float[x.Length];
        VectorMath.Exp(tier, x, y);

        for (int i = 0; i < x.Length; i++)
        {
            if (i == 10 || i == 11 || i == 8 || i == 9)
            {
                double exact = Math.Exp(x[i]);
                Assert.True(Math.Abs(y[i] - exact) <= exact * VectorMath.ExpMaxRelativeError, $"exp({x[i]}) = {y[i]} on {tier}, expected {exact}");
            }
            else
            {
                Assert.True(expected[i].Equals(y[i]), $"exp({x[i]}) = {y[i]} on {tier}, expected {expected[i]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void ExpNonPositive_equals_Exp_bit_for_bit_on_nonpositive_inputs_and_NaN(SimdTier tier)
    {
        const int N = 1 << 16;
        var x = new float[N + 64];
        for (int i = 0; i < N; i++) x[i] = -100f * i / (N - 1);
        float[] special = [float.NegativeInfinity, float.NaN, -0f, 0f, -87.33654f, -87.34f, -1e-30f, float.MinValue];
        for (int i = 0; i < 64; i++) x[N + i] = special[i % special.Length];
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        VectorMath.Exp(tier, x, expected);
        VectorMath.ExpNonPositive(tier, x, actual);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(expected[i].Equals(actual[i]), $"ExpNonPositive({x[i]:G9}) = {actual[i]:G9} on {tier}, Exp gives {expected[i]:G9}");
        }
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Tanh_is_within_3e_minus_7_and_saturates(SimdTier tier)
    {
        var x = new float[20001 + 4];
        for (int i = 0; i <= 20000; i++) x[i] = (i - 10000) / 500f; // [−20, 20]
        x[20001] = float.PositiveInfinity;
        x[20002] = float.NegativeInfinity;
        x[20003] = float.NaN;
        x[20004] = 1e-30f;
        var y = new float[x.Length];
        VectorMath.Tanh(tier, x, y);

        for (int i = 0; i <= 20000; i++)
        {
            Assert.True(Math.Abs(y[i] - Math.Tanh(x[i])) <= 3e-7, $"tanh({x[i]}) = {y[i]} on {tier}, expected {Math.Tanh(x[i])}");
        }

        Assert.Equal(1f, y[20001]);
        Assert.Equal(-1f, y[20002]);
        Assert.True(float.IsNaN(y[20003]));
        Assert.True(Math.Abs(y[20004]) <= 3e-7);
    }

    [Fact]
    public void Every_length_from_0_to_67_uses_registers_then_the_scalar_tail_consistently()
    {
        for (int n = 0; n <= 67; n++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = -i / 3f;
            var y = new float[n];
            VectorMath.Exp(AttentionKernels.Tier, x, y);

            for (int i = 0; i < n; i++)
            {
                Assert.True(Math.Abs(y[i] - Math.Exp(x[i])) <= Math.Exp(x[i]) * VectorMath.ExpMaxRelativeError, $"length {n}, element {i}");
            }
        }
    }
}
