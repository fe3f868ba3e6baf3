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
    public void Exp2NonPositive_is_within_its_bound_and_equals_the_scalar_tier_bit_for_bit(SimdTier tier)
    {
        // A dense grid over [−126, 0.5], the rounding boundaries of n (integers and half-integers, and the floats beside
        // them), the subnormal range (−151, −126) and the special values.
        var points = new List<float>();
        const int N = 1 << 20;
        for (int i = 0; i < N; i++) points.Add(-126f + (126.5f * i / (N - 1)));
        for (int k = -126; k <= 0; k++)
        {
            foreach (float c in new[] { k, k + 0.5f, k - 0.5f })
            {
                points.Add(c);
                points.Add(MathF.BitDecrement(c));
                points.Add(MathF.BitIncrement(c));
            }
        }

        for (int i = 0; i < 4096; i++) points.Add(-151f + (25f * i / 4095));
        float[] special = [float.NegativeInfinity, float.NaN, -0f, 0f, 0.5f, -151f, -151.5f, -1000f, float.MinValue, -1e-30f];
        points.AddRange(special);
        while (points.Count % 16 != 0) points.Add(0f);
        float[] t = [.. points];
        var y = new float[t.Length];
        var scalar = new float[t.Length];
        VectorMath.Exp2NonPositive(tier, t, y);
        VectorMath.Exp2NonPositive(SimdTier.Scalar, t, scalar);

        double worst = 0, worstAt = 0;
        for (int i = 0; i < t.Length; i++)
        {
            Assert.True(y[i].Equals(scalar[i]), $"Exp2NonPositive({t[i]:G9}) = {y[i]:G9} on {tier}, the scalar tier gives {scalar[i]:G9}");
            double exact = Math.Pow(2, t[i]);
            if (float.IsNaN(t[i]))
            {
                Assert.True(float.IsNaN(y[i]), $"Exp2NonPositive(NaN) = {y[i]} on {tier}");
            }
            else if (t[i] <= -151f)
            {
                Assert.True(y[i] == 0f, $"Exp2NonPositive({t[i]:G9}) = {y[i]:G9} on {tier}, expected 0");
            }
            else if (t[i] < -126f)
            {
                // Subnormal results: within half the smallest subnormal (one rounding) plus the polynomial's share.
                double limit = Math.Pow(2, -150) + (exact * VectorMath.Exp2MaxRelativeError);
                Assert.True(Math.Abs(y[i] - exact) <= limit, $"Exp2NonPositive({t[i]:G9}) = {y[i]:G9} on {tier}, expected {exact:G9}");
            }
            else
            {
                double error = Math.Abs(y[i] - exact) / exact;
                if (error > worst)
                {
                    worst = error;
                    worstAt = t[i];
                }
            }
        }

        Assert.True(worst <= VectorMath.Exp2MaxRelativeError, $"exp2 on {tier}: max relative error {worst:G4} at t = {worstAt:G9} exceeds {VectorMath.Exp2MaxRelativeError:G3}");
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
