namespace Heed;

/// <summary>Element types a <see cref="Tensor"/> can hold.</summary>
public enum DType
{
    /// <summary>IEEE 754 binary32 (<see cref="float"/>).</summary>
    Float32,

    /// <summary>IEEE 754 binary16 (<see cref="Half"/>).</summary>
    Float16,

    /// <summary>bfloat16: the upper 16 bits of a binary32 (<see cref="Heed.BFloat16"/>).</summary>
    BFloat16,

    /// <summary>IEEE 754 binary64 (<see cref="double"/>).</summary>
    Float64,

    /// <summary>One byte per element, 0 = false, 1 = true (<see cref="bool"/>).</summary>
    Bool,

    /// <summary>Signed 64-bit integer (<see cref="long"/>).</summary>
    Int64,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Bytes one element takes in memory and in tensor files.</summary>
    public static int SizeOf(DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float16 => 2,
        DType.BFloat16 => 2,
        DType.Float64 => 8,
        DType.Bool => 1,
        DType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
    };

    /// <summary>True for the four floating-point types.</summary>
    public static bool IsFloatingPoint(DType dtype) =>
        dtype is DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64;

    /// <summary>The lower-case name used by the CLI, docs and error messages ("float32", "bfloat16", "bool", ...).</summary>
    public static string Name(DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float16 => "float16",
        DType.BFloat16 => "bfloat16",
        DType.Float64 => "float64",
        DType.Bool => "bool",
        DType.Int64 => "int64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
    };

    /// <summary>Parses a name given by <see cref="Name"/> (also "float", "half", "double"); null when unknown.</summary>
    public static DType? TryParse(string name) => name.ToLowerInvariant() switch
    {
        "float32" or "float" or "f32" => DType.Float32,
        "float16" or "half" or "f16" => DType.Float16,
        "bfloat16" or "bf16" => DType.BFloat16,
        "float64" or "double" or "f64" => DType.Float64,
        "bool" => DType.Bool,
        "int64" or "long" or "i64" => DType.Int64,
        _ => null,
    };

    /// <summary>Rounds <paramref name="value"/> to the nearest value of a floating-point <paramref name="dtype"/> (ties to even), returned as a double.</summary>
    public static double Round(double value, DType dtype) => dtype switch
    {
        DType.Float64 => value,
        DType.Float32 => (float)value,
        DType.Float16 => (double)(Half)value,
        DType.BFloat16 => (double)(BFloat16)value,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "rounding needs a floating-point type"),
    };
}
