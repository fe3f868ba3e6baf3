using System.Globalization;
using Heed.Kernels;
using Heed.Reference;

namespace Heed.Core.Tests.Kernels;

/// <summary>The masks a parity case can carry.</summary>
public enum MaskKind
{
    None,
    Bool2D,        // [T, S], some rows all false (fully masked)
    Float4DShort,  // [1, H, T, S - 5] additive with −∞ entries: the last 5 keys are masked by being missing
    Bool3DHeads,   // [H, T, S]
    BoolColumn,    // [B, 1, 1, S]: a padding mask
}

/// <summary>One parity case: sizes, element type and every option that changes the semantics.</summary>
public sealed record KernelCase(
    string Name,
    int Batch,
    int Heads,
    int KvHeads,
    int QueryLength,
    int NewKeys,
    int HeadSize,
    int ValueHeadSize,
    int Past = 0,
    DType Type = DType.Float32,
    MaskKind Mask = MaskKind.None,
    bool Causal = false,
    int Left = -1,
    int Right = -1,
    long[]? Nonpad = null,
    double Softcap = 0,
    bool Packed = false,
    QkMatmulOutputMode? QkMode = null,
    SoftmaxPrecision? Precision = null)
{
    public int KvLength => Past + NewKeys;

    public override string ToString() => Name;

    public AttentionOptions Options(int? threads = null) => new()
    {
        QNumHeads = Packed ? Heads : null,
        KvNumHeads = Packed ? KvHeads : null,
        IsCausal = Causal,
        LeftWindowSize = Left,
        RightWindowSize = Right,
        Softcap = Softcap,
        ComputeQkMatmulOutput = QkMode is not null,
        QkMatmulOutputMode = QkMode ?? QkMatmulOutputMode.Scaled,
        SoftmaxPrecision = Precision,
        MaxThreads = threads,
    };

    public AttentionInputs Inputs(int seed = 1)
    {
        int s = KvLength;
        Tensor q = Packed
            ? Tensor.FromDoubles(Type, [Batch, QueryLength, Heads * HeadSize], TestTensors.Random(seed, Batch * QueryLength * Heads * HeadSize))
            : Tensor.FromDoubles(Type, [Batch, Heads, QueryLength, HeadSize], TestTensors.Random(seed, Batch * Heads * QueryLength * HeadSize));
        Tensor k = Packed
            ? Tensor.FromDoubles(Type, [Batch, NewKeys, KvHeads * HeadSize], TestTensors.Random(seed + 1, Batch * NewKeys * KvHeads * HeadSize))
            : Tensor.FromDoubles(Type, [Batch, KvHeads, NewKeys, HeadSize], TestTensors.Random(seed + 1, Batch * KvHeads * NewKeys * HeadSize));
        Tensor v = Packed
            ? Tensor.FromDoubles(Type, [Batch, NewKeys, KvHeads * ValueHeadSize], TestTensors.Random(seed + 2, Batch * NewKeys * KvHeads * ValueHeadSize))
            : Tensor.FromDoubles(Type, [Batch, KvHeads, NewKeys, ValueHeadSize], TestTensors.Random(seed + 2, Batch * KvHeads * NewKeys * ValueHeadSize));
        var inputs = new AttentionInputs(q, k, v)
        {
            AttnMask = MakeMask(seed + 3, s),
            NonpadKvSeqlen = Nonpad is null ? null : TestTensors.I64(Nonpad, Nonpad.Length),
        };
        if (Past > 0)
        {
            inputs = inputs with
            {
                PastKey = Tensor.FromDoubles(Type, [Batch, KvHeads, Past, HeadSize], TestTensors.Random(seed + 4, Batch * KvHeads * Past * HeadSize)),
                PastValue = Tensor.FromDoubles(Type, [Batch, KvHeads, Past, ValueHeadSize], TestTensors.Random(seed + 5, Batch * KvHeads * Past * ValueHeadSize)),
            };
        }

        return inputs;
    }

    private Tensor? MakeMask(int seed, int s)
    {
        var rng = new Random(seed);
        switch (Mask)
        {
            case MaskKind.Bool2D:
                {
                    var data = new bool[QueryLength * s];
                    for (int i = 0; i < QueryLength; i++)
                    {
                        bool closed = i % 5 == 3; // every fifth row fully masked
                        for (int j = 0; j < s; j++) data[(i * s) + j] = !closed && rng.NextDouble() < 0.7;
                    }

                    return TestTensors.Bool(data, QueryLength, s);
                }

            case MaskKind.Float4DShort:
                {
                    int columns = Math.Max(1, s - 5);
                    var data = new float[Heads * QueryLength * columns];
                    for (int n = 0; n < data.Length; n++) data[n] = rng.NextDouble() < 0.2 ? float.NegativeInfinity : (float)(-3 * rng.NextDouble());
                    for (int j = 0; j < columns; j++) data[j] = float.NegativeInfinity; // head 0, query 0: every present column −∞
                    return TestTensors.F32(data, 1, Heads, QueryLength, columns);
                }

            case MaskKind.Bool3DHeads:
                {
                    var data = new bool[Heads * QueryLength * s];
                    for (int n = 0; n < data.Length; n++) data[n] = rng.NextDouble() < 0.5;
                    return TestTensors.Bool(data, Heads, QueryLength, s);
                }

            case MaskKind.BoolColumn:
                {
                    var data = new bool[Batch * s];
                    for (int b = 0; b < Batch; b++)
                    {
                        for (int j = 0; j < s; j++) data[(b * s) + j] = j < s - (3 * (b + 1));
                    }

                    return TestTensors.Bool(data, Batch, 1, 1, s);
                }

            default:
                return null;
        }
    }
}

/// <summary>The parity grid of issue 3 and the comparison every kernel test uses.</summary>
public static class KernelCases
{
    private static readonly int[] QueryLengths = [1, 2, 7, 64, 129, 300];
    private static readonly (int Heads, int KvHeads)[] HeadCounts = [(8, 8), (8, 2), (3, 1)];
    private static readonly int[] HeadSizes = [1, 3, 8, 64, 80, 128];
    private static readonly int[] ValueHeadSizes = [5, 64, 8, 48, 80, 16];

    /// <summary>Every (T, S) of the grid, S ∈ {T, T+17, 1000}, cycling heads, D and Dv, alternating causal, with a mask every third case.</summary>
    public static IEnumerable<KernelCase> Shapes()
    {
        int index = 0;
        foreach (int t in QueryLengths)
        {
            foreach (int s in new[] { t, t + 17, 1000 })
            {
                (int heads, int kvHeads) = HeadCounts[index % 3];
                int d = HeadSizes[index % 6], dv = ValueHeadSizes[(index + 1) % 6];
                if ((long)t * s * heads * (d + dv) > 40_000_000)
                {
                    // Keep the reference fast: the biggest shapes run with 3 query heads sharing 1 kv head.
                    (heads, kvHeads) = (3, 1);
                }

                MaskKind mask = index % 3 == 2 ? (MaskKind)(1 + (index / 3 % 4)) : MaskKind.None;
                bool causal = index % 2 == 1;
                yield return new KernelCase($"T{t}_S{s}_H{heads}/{kvHeads}_D{d}_Dv{dv}_{mask}{(causal ? "_causal" : "")}", 1, heads, kvHeads, t, s, d, dv, Mask: mask, Causal: causal);
                index++;
            }
        }
    }

    /// <summary>Every rule of the semantics at moderate sizes.</summary>
    public static IEnumerable<KernelCase> Features()
    {
        yield return new("bool2d_fully_masked_rows", 2, 8, 2, 64, 81, 64, 32, Mask: MaskKind.Bool2D);
        yield return new("float4d_short_mask_causal", 1, 8, 8, 7, 100, 8, 8, Mask: MaskKind.Float4DShort, Causal: true);
        yield return new("bool3d_heads", 1, 3, 1, 129, 146, 80, 64, Mask: MaskKind.Bool3DHeads);
        yield return new("padding_column_mask_batch3", 3, 8, 2, 2, 300, 64, 64, Mask: MaskKind.BoolColumn);
        yield return new("causal_past_cache", 2, 8, 2, 7, 7, 64, 64, Past: 120, Causal: true);
        yield return new("causal_past_cache_decode", 1, 8, 2, 1, 1, 128, 128, Past: 999, Causal: true);
        yield return new("nonpad_causal", 2, 8, 8, 64, 200, 8, 16, Causal: true, Nonpad: [150, 64]);
        yield return new("nonpad_below_T_masks_rows", 2, 3, 1, 64, 100, 64, 8, Causal: true, Nonpad: [30, 100]);
        yield return new("nonpad_zero", 2, 8, 2, 2, 70, 64, 64, Nonpad: [0, 70]);
        yield return new("window_left", 1, 8, 8, 129, 129, 64, 64, Left: 40);
        yield return new("window_left_right", 1, 8, 2, 300, 317, 3, 5, Left: 10, Right: 3);
        yield return new("window_causal_past", 1, 3, 1, 64, 64, 64, 64, Past: 200, Causal: true, Left: 70);
        yield return new("window_right_only_top_left", 1, 8, 8, 300, 100, 8, 8, Right: 0);
        yield return new("softcap", 1, 8, 2, 64, 1000, 64, 64, Softcap: 1.5);
        yield return new("softcap_causal_mask", 1, 3, 1, 129, 129, 80, 80, Mask: MaskKind.Bool2D, Causal: true, Softcap: 30);
        yield return new("packed_3d_gqa", 2, 8, 2, 7, 300, 64, 48, Packed: true, Causal: true);
        yield return new("packed_3d_past", 1, 8, 8, 2, 5, 8, 8, Past: 40, Packed: true, Causal: true);
        yield return new("float16", 1, 8, 2, 64, 300, 64, 64, Type: DType.Float16, Causal: true);
        yield return new("float16_decode_mask", 2, 8, 2, 1, 1000, 80, 80, Type: DType.Float16, Mask: MaskKind.BoolColumn);
        yield return new("bfloat16", 1, 3, 1, 129, 146, 128, 64, Type: DType.BFloat16, Mask: MaskKind.Float4DShort);
        yield return new("bfloat16_window", 1, 8, 8, 7, 1000, 64, 64, Type: DType.BFloat16, Left: 500, Past: 0);
        yield return new("dv_differs_large", 1, 8, 2, 64, 81, 128, 16);
        yield return new("d1_dv1", 1, 8, 8, 7, 24, 1, 1, Causal: true);
    }

    /// <summary>The options that need whole rows of probabilities: qk_matmul_output modes and softmax_precision.</summary>
    public static IEnumerable<KernelCase> Materialized()
    {
        foreach (QkMatmulOutputMode mode in Enum.GetValues<QkMatmulOutputMode>())
        {
            yield return new($"qk_mode{(int)mode}_softcap_mask", 1, 8, 2, 7, 100, 64, 64, Mask: MaskKind.Bool2D, Causal: true, Softcap: 2, QkMode: mode);
        }

        yield return new("qk_mode3_past_window", 2, 3, 1, 64, 17, 8, 8, Past: 64, Causal: true, Left: 20, QkMode: QkMatmulOutputMode.Probabilities);
        foreach (SoftmaxPrecision precision in Enum.GetValues<SoftmaxPrecision>())
        {
            yield return new($"precision_{precision}", 1, 8, 2, 64, 129, 64, 64, Mask: MaskKind.Float4DShort, Precision: precision);
        }

        yield return new("precision_float16_inputs_float16", 1, 3, 1, 7, 300, 80, 80, Type: DType.Float16, Causal: true, Precision: SoftmaxPrecision.Float16);
    }

    public static TheoryData<string> Names(IEnumerable<KernelCase> cases)
    {
        var data = new TheoryData<string>();
        foreach (KernelCase c in cases) data.Add(c.Name);
        return data;
    }

    public static KernelCase Find(string name) =>
        Shapes().Concat(Features()).Concat(Materialized()).Single(c => c.Name == name);

    /// <summary>(absolute, relative) tolerance for outputs of the given element type.</summary>
    public static (double Absolute, double Relative) Tolerance(DType type, SoftmaxPrecision? precision = null) => (type, precision) switch
    {
        (_, SoftmaxPrecision.BFloat16) => (2e-2, 2e-2),
        (DType.BFloat16, _) => (1e-2, 1.6e-2),
        (_, SoftmaxPrecision.Float16) => (2e-3, 2e-3),
        (DType.Float16, _) => (1e-3, 2e-3),
        _ => (1e-4, 1e-4),
    };

    /// <summary>
    /// Asserts element-wise agreement: NaN where the reference has NaN, equal infinities, and |actual − expected| ≤ abs + rel·|expected|
    /// elsewhere; the failure message gives the largest difference, where it is and both values.
    /// </summary>
    public static void AssertClose(Tensor expected, Tensor actual, (double Absolute, double Relative) tolerance, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        Assert.Equal(expected.DType, actual.DType);
        double[] e = expected.ToDoubleArray(), a = actual.ToDoubleArray();
        double worst = 0, worstExcess = 0;
        int at = -1, failures = 0;
        for (int n = 0; n < e.Length; n++)
        {
            if (double.IsNaN(e[n]) || double.IsNaN(a[n]) || double.IsInfinity(e[n]) || double.IsInfinity(a[n]))
            {
                if (!(e[n].Equals(a[n])))
                {
                    failures++;
                    if (at < 0 || worstExcess < double.PositiveInfinity)
                    {
                        at = n;
                        worstExcess = double.PositiveInfinity;
                        worst = double.PositiveInfinity;
                    }
                }

                continue;
            }

            double diff = Math.Abs(a[n] - e[n]);
            double excess = diff - (tolerance.Absolute + (tolerance.Relative * Math.Abs(e[n])));
            if (excess > 0) failures++;
            if (excess > worstExcess || (at < 0 && diff > worst))
            {
                worstExcess = Math.Max(worstExcess, excess);
                worst = diff;
                at = n;
            }
        }

        Assert.True(
            failures == 0,
            string.Create(CultureInfo.InvariantCulture, $"{what}: {failures} of {e.Length} elements out of tolerance (abs {tolerance.Absolute:G3} + rel {tolerance.Relative:G3}); max difference {worst:G6} at element {at}: expected {(at >= 0 ? e[at] : 0):G9}, got {(at >= 0 ? a[at] : 0):G9}"));
    }

    /// <summary>Runs the reference and a kernel on one case and compares Y, the present key/value and qk_matmul_output.</summary>
    public static void CheckKernel(KernelCase c, AttentionResult expected, AttentionKernel kernel, SimdTier? tier = null, int? threads = null)
    {
        AttentionResult actual = AttentionKernels.Compute(c.Inputs(), c.Options(threads), kernel, tier);
        string what = $"{kernel} kernel ({tier?.ToString() ?? AttentionKernels.Tier.ToString()}) on {c.Name}";
        AssertClose(expected.Output, actual.Output, Tolerance(c.Type, c.Precision), what + " Y");
        AssertClose(expected.PresentKey, actual.PresentKey, (0, 0), what + " present_key");
        AssertClose(expected.PresentValue, actual.PresentValue, (0, 0), what + " present_value");
        if (c.QkMode is QkMatmulOutputMode mode)
        {
            (double abs, double rel) = Tolerance(c.Type, c.Precision);
            AssertClose(expected.QkMatmulOutput!, actual.QkMatmulOutput!, mode == QkMatmulOutputMode.Probabilities ? (abs / 10, rel) : (abs, rel), what + " qk_matmul_output");
        }
    }

    public static AttentionResult Reference(KernelCase c) => ReferenceAttention.Compute(c.Inputs(), c.Options());
}
