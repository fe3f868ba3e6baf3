using System.Runtime.Intrinsics;
using Heed.Kernels;

namespace Heed.Core.Tests.Kernels;

/// <summary>The tier operations with their own shuffle code, against element-by-element loops.</summary>
public class SimdTests
{
    public static TheoryData<SimdTier> Tiers => [SimdTier.Vector512, SimdTier.Vector256, SimdTier.Vector128, SimdTier.Scalar];

    [Theory]
    [MemberData(nameof(Tiers))]
    public unsafe void TransposeScaled_moves_every_element_to_its_mirror_and_scales_it(SimdTier tier)
    {
        switch (tier)
        {
            case SimdTier.Vector512: CheckTranspose<Simd512, Vector512<float>>(); break;
            case SimdTier.Vector256: CheckTranspose<Simd256, Vector256<float>>(); break;
            case SimdTier.Vector128: CheckTranspose<Simd128, Vector128<float>>(); break;
            default: CheckTranspose<SimdScalar, float>(); break;
        }
    }

    private static unsafe void CheckTranspose<TOps, TV>()
        where TOps : ISimd<TV>
        where TV : struct
    {
        int w = TOps.Width;
        const int Stride = 37, DestinationStride = 53; // neither a multiple of the width: rows start anywhere
        var source = new float[w * Stride];
        var destination = new float[w * DestinationStride];
        for (int i = 0; i < source.Length; i++) source[i] = (i * 0.25f) - 7f;
        Array.Fill(destination, float.NaN);
        fixed (float* s = source, d = destination)
        {
            TOps.TransposeScaled(s, Stride, d, DestinationStride, -1.5f);
        }

        for (int j = 0; j < w; j++)
        {
            for (int i = 0; i < DestinationStride; i++)
            {
                float expected = i < w ? -1.5f * source[(i * Stride) + j] : float.NaN;
                float actual = destination[(j * DestinationStride) + i];
                Assert.True(expected.Equals(actual), $"width {w}: destination[{j}, {i}] = {actual}, expected {expected}");
            }
        }
    }
}
