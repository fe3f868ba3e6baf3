using System.Globalization;
using System.Numerics;

namespace Heed;

/// <summary>
/// A dense tensor: a shape and row-major (C order) storage of one <see cref="DType"/>.
/// The element storage lives in the typed subclass <see cref="Tensor{T}"/>.
/// </summary>
public abstract class Tensor
{
    private readonly int[] _shape;

    private protected Tensor(ReadOnlySpan<int> shape)
    {
        _shape = shape.ToArray();
        Length = CheckedLength(_shape);
    }

    /// <summary>The element type.</summary>
    public abstract DType DType { get; }

    /// <summary>The size of each axis, outermost first.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements (the product of the shape; 1 for a scalar).</summary>
    public int Length { get; }

    /// <summary>The size of one axis; negative axes count from the end (-1 = last).</summary>
    public int Dim(int axis)
    {
        int resolved = axis < 0 ? axis + _shape.Length : axis;
        if ((uint)resolved >= (uint)_shape.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"a rank-{_shape.Length} tensor has no axis {axis}");
        }

        return _shape[resolved];
    }

    /// <summary>The shape written as "[2, 3, 4]", as in error messages.</summary>
    public string ShapeText => FormatShape(_shape);

    /// <summary>Every element converted to double, in storage order (bool: 0 or 1).</summary>
    public abstract double[] ToDoubleArray();

    /// <summary>A tensor of the same elements under another shape with the same element count (storage is shared).</summary>
    public abstract Tensor Reshape(params int[] shape);

    /// <summary>Creates a tensor of <paramref name="dtype"/> from doubles, rounding each to the nearest representable value.</summary>
    /// <exception cref="ArgumentException">The value count differs from the shape's element count, or a value cannot be represented in an integer type.</exception>
    public static Tensor FromDoubles(DType dtype, ReadOnlySpan<int> shape, ReadOnlySpan<double> values)
    {
        int length = CheckedLength(shape);
        if (values.Length != length)
        {
            throw new ArgumentException($"shape {FormatShape(shape)} holds {length} elements but {values.Length} values were given", nameof(values));
        }

        switch (dtype)
        {
            case DType.Float32:
                {
                    var data = new float[length];
                    for (int i = 0; i < length; i++) data[i] = (float)values[i];
                    return new Tensor<float>(shape, data);
                }
            case DType.Float16:
                {
                    var data = new Half[length];
                    for (int i = 0; i < length; i++) data[i] = (Half)values[i];
                    return new Tensor<Half>(shape, data);
                }
            case DType.BFloat16:
                {
                    var data = new BFloat16[length];
                    for (int i = 0; i < length; i++) data[i] = (BFloat16)values[i];
                    return new Tensor<BFloat16>(shape, data);
                }
            case DType.Float64:
                return new Tensor<double>(shape, values.ToArray());
            case DType.Bool:
                {
                    var data = new bool[length];
                    for (int i = 0; i < length; i++) data[i] = values[i] != 0;
                    return new Tensor<bool>(shape, data);
                }
            case DType.Int64:
                {
                    var data = new long[length];
                    for (int i = 0; i < length; i++)
                    {
                        double v = values[i];
                        if (v != Math.Floor(v) || v < long.MinValue || v >= 9.2233720368547758e18)
                        {
                            throw new ArgumentException($"value {v.ToString(CultureInfo.InvariantCulture)} at index {i} is not an int64", nameof(values));
                        }

                        data[i] = (long)v;
                    }

                    return new Tensor<long>(shape, data);
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type");
        }
    }

    /// <summary>Creates a tensor over <paramref name="data"/> (not copied) with the given shape.</summary>
    public static Tensor<T> Create<T>(T[] data, params int[] shape)
        where T : unmanaged => new(shape, data);

    /// <summary>Creates a zero-filled tensor.</summary>
    public static Tensor Zeros(DType dtype, ReadOnlySpan<int> shape)
    {
        int length = CheckedLength(shape);
        return dtype switch
        {
            DType.Float32 => new Tensor<float>(shape, new float[length]),
            DType.Float16 => new Tensor<Half>(shape, new Half[length]),
            DType.BFloat16 => new Tensor<BFloat16>(shape, new BFloat16[length]),
            DType.Float64 => new Tensor<double>(shape, new double[length]),
            DType.Bool => new Tensor<bool>(shape, new bool[length]),
            DType.Int64 => new Tensor<long>(shape, new long[length]),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown element type"),
        };
    }

    /// <summary>
    /// Writes a shape as "[2, 3, 4]". A shape of more than 12 axes shows its first 8 and last 2 and its rank,
    /// "[2, 2, 2, 2, 2, 2, 2, 2, ..., 2, 2] (rank 40)", so a message quoting a hostile shape stays short.
    /// </summary>
    public static string FormatShape(ReadOnlySpan<int> shape)
    {
        const int MaxShown = 12, Head = 8, Tail = 2;
        if (shape.Length > MaxShown)
        {
            return "[" + Join(shape[..Head]) + ", ..., " + Join(shape[^Tail..]) + "] (rank "
                + shape.Length.ToString(CultureInfo.InvariantCulture) + ")";
        }

        return "[" + Join(shape) + "]";
    }

    private static string Join(ReadOnlySpan<int> sizes)
    {
        var parts = new string[sizes.Length];
        for (int i = 0; i < sizes.Length; i++) parts[i] = sizes[i].ToString(CultureInfo.InvariantCulture);
        return string.Join(", ", parts);
    }

    /// <summary>The element count of a shape; throws when an axis is negative or the count does not fit in an <see cref="int"/>.</summary>
    public static int CheckedLength(ReadOnlySpan<int> shape)
    {
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                throw new ArgumentException($"shape {FormatShape(shape)} has a negative size on axis {i}", nameof(shape));
            }
        }

        return LengthOrNull(shape)
            ?? throw new ArgumentException($"shape {FormatShape(shape)} has more elements than one array can hold ({Array.MaxLength})", nameof(shape));
    }

    /// <summary>
    /// The element count of a shape of non-negative sizes, or null when it is over <see cref="Array.MaxLength"/>.
    /// Any zero axis gives 0 whatever the other axes hold: a product taken left to right would pass the limit on
    /// [2147483647, 0] before it reached the 0.
    /// </summary>
    internal static int? LengthOrNull(ReadOnlySpan<int> shape)
    {
        if (shape.Contains(0))
        {
            return 0;
        }

        long length = 1;
        foreach (int size in shape)
        {
            // Both factors are at most int.MaxValue here, so the long product cannot overflow before the check.
            length *= size;
            if (length > Array.MaxLength)
            {
                return null;
            }
        }

        return (int)length;
    }

    /// <summary>
    /// The exact element count of a shape of non-negative sizes, for a message about a count over the limit; callers
    /// bound the rank first, since the product grows with it.
    /// </summary>
    internal static BigInteger ExactLength(ReadOnlySpan<int> shape)
    {
        BigInteger length = BigInteger.One;
        foreach (int size in shape) length *= size;
        return length;
    }

    /// <inheritdoc />
    public override string ToString() => $"Tensor<{DTypes.Name(DType)}>{ShapeText}";
}

/// <summary>A dense tensor whose elements are of type <typeparamref name="T"/>, stored row-major in <see cref="Data"/>.</summary>
/// <typeparam name="T"><see cref="float"/>, <see cref="Half"/>, <see cref="BFloat16"/>, <see cref="double"/>, <see cref="bool"/> or <see cref="long"/>.</typeparam>
public sealed class Tensor<T> : Tensor
    where T : unmanaged
{
    private static readonly DType ElementType = typeof(T) switch
    {
        var t when t == typeof(float) => DType.Float32,
        var t when t == typeof(Half) => DType.Float16,
        var t when t == typeof(BFloat16) => DType.BFloat16,
        var t when t == typeof(double) => DType.Float64,
        var t when t == typeof(bool) => DType.Bool,
        var t when t == typeof(long) => DType.Int64,
        _ => throw new NotSupportedException($"Heed tensors hold float, Half, BFloat16, double, bool or long, not {typeof(T).Name}"),
    };

    /// <summary>Creates a tensor over <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The data length differs from the shape's element count.</exception>
    public Tensor(ReadOnlySpan<int> shape, T[] data)
        : base(shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length != Length)
        {
            throw new ArgumentException($"shape {ShapeText} holds {Length} elements but the data has {data.Length}", nameof(data));
        }

        Data = data;
    }

    /// <inheritdoc />
    public override DType DType => ElementType;

    /// <summary>The elements in row-major order (shared, not a copy).</summary>
    public T[] Data { get; }

    /// <summary>The elements as a span.</summary>
    public Span<T> Span => Data;

    /// <inheritdoc />
    public override Tensor Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int length = CheckedLength(shape);
        if (length != Length)
        {
            throw new ArgumentException($"cannot reshape {ShapeText} ({Length} elements) to {FormatShape(shape)} ({length} elements)", nameof(shape));
        }

        return new Tensor<T>(shape, Data);
    }

    /// <inheritdoc />
    public override double[] ToDoubleArray()
    {
        var result = new double[Length];
        switch (Data)
        {
            case float[] f:
                for (int i = 0; i < f.Length; i++) result[i] = f[i];
                break;
            case Half[] h:
                for (int i = 0; i < h.Length; i++) result[i] = (double)h[i];
                break;
            case BFloat16[] b:
                for (int i = 0; i < b.Length; i++) result[i] = (double)b[i];
                break;
            case double[] d:
                Array.Copy(d, result, d.Length);
                break;
            case bool[] z:
                for (int i = 0; i < z.Length; i++) result[i] = z[i] ? 1 : 0;
                break;
            case long[] l:
                for (int i = 0; i < l.Length; i++) result[i] = l[i];
                break;
        }

        return result;
    }
}
