using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Heed.Server.Services;

/// <summary>
/// A tensor on the wire: either <c>shape</c> + <c>dtype</c> + <c>data</c> (the elements flattened in row-major order; bool as 0/1,
/// −∞ as "-Infinity"), or <c>npy</c>, a base64 .npy file.
/// </summary>
public sealed record TensorData
{
    /// <summary>The size of each axis, outermost first (with <see cref="Data"/>).</summary>
    [Description("The size of each axis, outermost first (with data).")]
    public int[]? Shape { get; init; }

    /// <summary>float32, float16, bfloat16, float64, bool or int64 (with <see cref="Data"/>; default float32).</summary>
    [Description("float32, float16, bfloat16, float64, bool or int64 (with data; default float32).")]
    public string? Dtype { get; init; }

    /// <summary>The elements, row-major.</summary>
    [Description("The elements flattened in row-major order (bool as 0/1). Numbers are finite; an additive attention mask may hold the string \"-Infinity\" (never attend), and outputs write masked scores the same way.")]
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double[]? Data { get; init; }

    /// <summary>A whole .npy file, base64 (instead of shape/dtype/data).</summary>
    [Description("A whole .npy file, base64-encoded (instead of shape, dtype and data).")]
    public string? Npy { get; init; }

    /// <summary>Writes <paramref name="tensor"/> as JSON arrays or as a base64 .npy file.</summary>
    public static TensorData From(Tensor tensor, OutputEncoding encoding)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (encoding == OutputEncoding.Npy)
        {
            using var stream = new MemoryStream();
            Heed.IO.Npy.Write(stream, tensor);
            return new TensorData { Npy = Convert.ToBase64String(stream.ToArray()) };
        }

        return new TensorData { Shape = tensor.Shape.ToArray(), Dtype = DTypes.Name(tensor.DType), Data = tensor.ToDoubleArray() };
    }
}

/// <summary>How tensors in a response are written.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OutputEncoding>))]
public enum OutputEncoding
{
    /// <summary>shape + dtype + data arrays.</summary>
    Json,

    /// <summary>A base64 .npy file.</summary>
    Npy,
}

/// <summary>Turns <see cref="TensorData"/> into tensors, checking the server's limits; every error names the field.</summary>
public sealed class TensorCodec
{
    private readonly ServerLimits _limits;

    /// <summary>Creates a codec that enforces <paramref name="limits"/>.</summary>
    public TensorCodec(ServerLimits limits) => _limits = limits;

    /// <summary>The limits this codec enforces.</summary>
    public ServerLimits Limits => _limits;

    /// <summary>Decodes a required tensor.</summary>
    /// <exception cref="HeedException">The field is missing, malformed, or over a limit.</exception>
    public Tensor Decode(string field, TensorData? data) =>
        DecodeOptional(field, data) ?? throw new HeedException($"{field}: required; give shape, dtype and data, or npy");

    /// <summary>Decodes an optional tensor (null stays null).</summary>
    /// <param name="field">The request field, named in errors.</param>
    /// <param name="data">The tensor as sent.</param>
    /// <param name="allowMinusInfinity">Take "-Infinity" in data (an additive mask's "never attend"); NaN and +∞ are refused always.</param>
    /// <exception cref="HeedException">The field is malformed or over a limit.</exception>
    public Tensor? DecodeOptional(string field, TensorData? data, bool allowMinusInfinity = false)
    {
        if (data is null)
        {
            return null;
        }

        Tensor tensor;
        if (data.Npy is not null)
        {
            if (data.Data is not null || data.Shape is not null)
            {
                throw new HeedException($"{field}: give either npy or shape/data, not both");
            }

            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(data.Npy);
            }
            catch (FormatException)
            {
                throw new HeedException($"{field}.npy: not valid base64");
            }

            if (bytes.Length > _limits.MaxElements * 8L + 4096)
            {
                throw new HeedException($"{field}.npy: {bytes.Length} bytes; the limit is {_limits.MaxElements} elements");
            }

            using var stream = new MemoryStream(bytes, writable: false);
            tensor = Heed.IO.Npy.Read(stream, field);
        }
        else
        {
            if (data.Shape is null || data.Data is null)
            {
                throw new HeedException($"{field}: give shape and data (and dtype), or npy");
            }

            CheckShape(field, data.Shape);
            DType dtype = DType.Float32;
            if (data.Dtype is not null)
            {
                dtype = DTypes.TryParse(data.Dtype) ?? throw new HeedException($"{field}.dtype: '{data.Dtype}' is not one of float32, float16, bfloat16, float64, bool, int64");
            }

            int bad = Array.FindIndex(data.Data, x => !(double.IsFinite(x) || (allowMinusInfinity && double.IsNegativeInfinity(x))));
            if (bad >= 0)
            {
                string allowed = allowMinusInfinity ? "a finite number or \"-Infinity\"" : "a finite number";
                throw new HeedException($"{field}.data[{bad}]: {data.Data[bad].ToString(System.Globalization.CultureInfo.InvariantCulture)}; expected {allowed}");
            }

            long expected = 1;
            foreach (int size in data.Shape) expected *= size;
            if (data.Data.Length != expected)
            {
                throw new HeedException($"{field}.data: {data.Data.Length} values but shape {Tensor.FormatShape(data.Shape)} holds {expected}");
            }

            try
            {
                tensor = Tensor.FromDoubles(dtype, data.Shape, data.Data);
            }
            catch (ArgumentException ex)
            {
                throw new HeedException($"{field}: {ex.Message.Split(" (Parameter", 2)[0]}");
            }
        }

        CheckShape(field, tensor.Shape.ToArray());
        return tensor;
    }

    /// <summary>Checks a shape against the limits: every axis but the last ≤ the sequence limit, the last ≤ the width limit, the product ≤ the element limit.</summary>
    /// <exception cref="HeedException">An axis is negative or over a limit.</exception>
    public void CheckShape(string field, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length > 8)
        {
            throw new HeedException($"{field}: rank {shape.Length}; at most 8 axes");
        }

        long count = 1;
        for (int axis = 0; axis < shape.Length; axis++)
        {
            int size = shape[axis];
            bool last = axis == shape.Length - 1;
            int limit = last ? _limits.MaxWidth : _limits.MaxSequenceLength;
            if (size < 0 || size > limit)
            {
                string what = last ? "width limit" : "sequence length limit";
                throw new HeedException($"{field}: axis {axis} has size {size}; expected 0..{limit} (the server's {what})");
            }

            count *= size;
        }

        if (count > _limits.MaxElements)
        {
            throw new HeedException($"{field}: shape {Tensor.FormatShape(shape)} holds {count} elements; the server's limit is {_limits.MaxElements}");
        }
    }

    /// <summary>Checks a jagged matrix (rows × columns) against the limits and returns its column count.</summary>
    /// <exception cref="HeedException">The matrix is ragged, empty or over a limit.</exception>
    public int CheckMatrix(string field, double[][]? rows)
    {
        if (rows is null || rows.Length == 0)
        {
            throw new HeedException($"{field}: required, a non-empty list of rows");
        }

        int cols = rows[0]?.Length ?? 0;
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is null || rows[i].Length != cols)
            {
                throw new HeedException($"{field}: row {i} has {rows[i]?.Length ?? 0} values; expected {cols} like row 0");
            }
        }

        CheckShape(field, [rows.Length, cols]);
        return cols;
    }
}
