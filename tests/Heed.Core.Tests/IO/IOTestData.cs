using System.Runtime.InteropServices;

namespace Heed.Core.Tests.IO;

/// <summary>Tensors, comparisons and files shared by the tensor file format tests.</summary>
internal static class IOTestData
{
    public static readonly DType[] AllDTypes =
        [DType.Float32, DType.Float16, DType.BFloat16, DType.Float64, DType.Bool, DType.Int64];

    public static readonly int[][] Shapes = [[], [0], [5], [2, 3], [2, 3, 4, 1]];

    /// <summary>Every dtype with every shape, as xunit rows.</summary>
    public static TheoryData<DType, int[]> DTypesByShapes()
    {
        var data = new TheoryData<DType, int[]>();
        foreach (DType dtype in AllDTypes)
        {
            foreach (int[] shape in Shapes) data.Add(dtype, shape);
        }

        return data;
    }

    private static readonly double[] FloatValues =
        [1.5, double.NaN, -0.0, double.PositiveInfinity, double.NegativeInfinity, 0.0, -2.25, 3e-5, 1024.125, -7.0];

    private static readonly long[] IntValues = [0, -1, long.MinValue, long.MaxValue, 42, -9_007_199_254_740_993];

    /// <summary>A tensor whose values cycle through NaN, ±Inf, -0.0 and ordinary numbers (extremes for int64).</summary>
    public static Tensor Sample(DType dtype, int[] shape)
    {
        int length = Tensor.CheckedLength(shape);
        switch (dtype)
        {
            case DType.Int64:
                {
                    var data = new long[length];
                    for (int i = 0; i < length; i++) data[i] = IntValues[i % IntValues.Length] + (i / IntValues.Length);
                    return new Tensor<long>(shape, data);
                }
            case DType.Bool:
                {
                    var data = new bool[length];
                    for (int i = 0; i < length; i++) data[i] = i % 3 != 1;
                    return new Tensor<bool>(shape, data);
                }
            default:
                {
                    var values = new double[length];
                    for (int i = 0; i < length; i++) values[i] = FloatValues[i % FloatValues.Length] * (1 + (i / FloatValues.Length));
                    Tensor tensor = Tensor.FromDoubles(dtype, shape, values);
                    if (tensor is Tensor<float> f && length > 9)
                    {
                        // A NaN with a payload and the sign set must survive bit for bit.
                        f.Data[9] = BitConverter.UInt32BitsToSingle(0xFFC0_1234);
                    }

                    return tensor;
                }
        }
    }

    /// <summary>The stored bytes of a tensor's elements.</summary>
    public static byte[] Bytes(Tensor tensor) => tensor switch
    {
        Tensor<float> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        Tensor<Half> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        Tensor<BFloat16> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        Tensor<double> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        Tensor<bool> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        Tensor<long> t => MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray(),
        _ => throw new ArgumentException("unknown tensor type", nameof(tensor)),
    };

    /// <summary>Same dtype, same shape, same bits (NaN payloads and -0.0 included).</summary>
    public static void AssertSameBits(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.DType, actual.DType);
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        Assert.Equal(Bytes(expected), Bytes(actual));
    }
}

/// <summary>Wraps bytes in a stream that cannot seek or tell its length, like a pipe or a network stream.</summary>
internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
{
    private readonly MemoryStream _inner = new(bytes, writable: false);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>The largest single read asked for, to show that claimed sizes do not drive allocation.</summary>
    public int LargestRead { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        LargestRead = Math.Max(LargestRead, buffer.Length);
        return _inner.Read(buffer);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }
}
