namespace Heed.Models.Gguf;

/// <summary>The tensor types of ggml that Heed reads, with ggml's numeric ids (as stored in GGUF tensor tables).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "ggml's type names (Q8_0, Q4_K, Q6_K) are kept verbatim, like checkpoint names")]
public enum GgmlType
{
    /// <summary>IEEE float32.</summary>
    F32 = 0,

    /// <summary>IEEE float16.</summary>
    F16 = 1,

    /// <summary>Blocks of 32: a float16 scale d, then 32 int8 q; x = d·q (34 bytes).</summary>
    Q8_0 = 8,

    /// <summary>
    /// Super-blocks of 256: float16 d and dmin, 12 bytes of eight 6-bit scales and eight 6-bit mins, 128 bytes of 4-bit q;
    /// x = d·scale·q − dmin·min per sub-block of 32 (144 bytes).
    /// </summary>
    Q4_K = 12,

    /// <summary>
    /// Super-blocks of 256: 128 bytes of low 4 bits, 64 bytes of high 2 bits, sixteen int8 scales, float16 d;
    /// x = d·scale·(q − 32) per sub-block of 16 (210 bytes).
    /// </summary>
    Q6_K = 14,

    /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
    BF16 = 30,
}

/// <summary>Block sizes of ggml's types.</summary>
public static class GgmlTypes
{
    /// <summary>Whether Heed reads tensors of this ggml type id.</summary>
    public static bool IsSupported(uint type) => type is 0 or 1 or 8 or 12 or 14 or 30;

    /// <summary>Elements per block: 1 for float types, 32 for Q8_0, 256 for the k-quants.</summary>
    public static int BlockElements(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q8_0 => 32,
        GgmlType.Q4_K or GgmlType.Q6_K => 256,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q8_0 => 34,
        GgmlType.Q4_K => 144,
        GgmlType.Q6_K => 210,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>
    /// The name ggml gives a type id, also for the ones Heed does not read (so a message can say what a file holds).
    /// </summary>
    public static string Name(uint type) => type switch
    {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        _ => $"type {type}",
    };
}
