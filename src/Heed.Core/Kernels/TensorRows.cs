using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Heed.Kernels;

/// <summary>
/// Rows of a Q, K, V or Y tensor addressed as (batch, head, position), whatever the layout (4-D [B, heads, len, size]
/// or packed 3-D [B, len, heads·size]) and element type. The tensor's storage is pinned for the object's lifetime and
/// read or written in place: float32 rows are handed out as pointers, other types are converted row by row.
/// </summary>
internal sealed unsafe class TensorRows : IDisposable
{
    private GCHandle _pin;
    private readonly byte* _base;
    private readonly int _batchStride;
    private readonly int _headStride;
    private readonly int _positionStride;

    private TensorRows(Tensor tensor, int heads, int length, int size, bool packed)
    {
        DType = tensor.DType;
        RowLength = size;
        _pin = GCHandle.Alloc(StorageOf(tensor), GCHandleType.Pinned);
        _base = (byte*)_pin.AddrOfPinnedObject();
        if (packed)
        {
            _batchStride = length * heads * size;
            _headStride = size;
            _positionStride = heads * size;
        }
        else
        {
            _batchStride = heads * length * size;
            _headStride = length * size;
            _positionStride = size;
        }
    }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Elements per row (D or Dv).</summary>
    public int RowLength { get; }

    /// <summary>True when the rows are float32 and so can be read in place (<see cref="InPlace"/>).</summary>
    public bool IsFloat32 => DType == DType.Float32;

    /// <summary>Floats from one position's row to the next one's (same batch and head).</summary>
    public int PositionStride => _positionStride;

    /// <summary>The float32 row (b, head, position) in place; only when <see cref="IsFloat32"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* InPlace(int b, int head, int position) => (float*)_base + Index(b, head, position);

    /// <summary>Rows of <paramref name="tensor"/> laid out as [B, heads, length, size] or, when packed, [B, length, heads·size].</summary>
    public static TensorRows Create(Tensor tensor, int heads, int length, int size, bool packed) => new(tensor, heads, length, size, packed);

    /// <summary>The row (b, head, position) as floats: a pointer into the tensor for float32, else converted into <paramref name="scratch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public float* Row(int b, int head, int position, float* scratch)
    {
        long index = Index(b, head, position);
        if (DType == DType.Float32)
        {
            return (float*)_base + index;
        }

        Convert(index, scratch, 1f);
        return scratch;
    }

    /// <summary>Copies the row (b, head, position) into <paramref name="destination"/> as floats multiplied by <paramref name="factor"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public void Read(int b, int head, int position, float* destination, float factor) => Convert(Index(b, head, position), destination, factor);

    /// <summary>Writes <see cref="RowLength"/> floats to the row (b, head, position), rounding to the element type.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public void Write(int b, int head, int position, float* source)
    {
        long index = Index(b, head, position);
        int n = RowLength;
        switch (DType)
        {
            case DType.Float32:
                new ReadOnlySpan<float>(source, n).CopyTo(new Span<float>((float*)_base + index, n));
                break;
            case DType.Float16:
                {
                    Half* d = (Half*)_base + index;
                    for (int i = 0; i < n; i++) d[i] = (Half)source[i];
                    break;
                }

            case DType.BFloat16:
                {
                    BFloat16* d = (BFloat16*)_base + index;
                    for (int i = 0; i < n; i++) d[i] = (BFloat16)source[i];
                    break;
                }

            default:
                {
                    // Eight floats widened at a time: a capture writes every probability of a traced call this way.
                    double* d = (double*)_base + index;
                    int i = 0;
                    for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
                    {
                        (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(Vector256.Load(source + i));
                        lower.Store(d + i);
                        upper.Store(d + i + Vector256<double>.Count);
                    }

                    for (; i < n; i++) d[i] = source[i];
                    break;
                }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pin.IsAllocated)
        {
            _pin.Free();
        }
    }

    /// <summary>
    /// True when no float is NaN or ±∞ (all exponent bits set), a vector of bit patterns at a time. The BCL's range search
    /// (<c>ContainsAnyExceptInRange</c>) runs element by element for float: 39 µs for 256 KiB against about 6 here.
    /// </summary>
    public static bool AllFinite(ReadOnlySpan<float> data) => NoneHasAllBits(MemoryMarshal.Cast<float, uint>(data), 0x7F800000u);

    /// <summary>True when no element's bit pattern has every bit of <paramref name="mask"/> set (the exponent field: NaN or ±∞).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // once per call over a whole tensor: optimized from the first call
    private static bool NoneHasAllBits<T>(ReadOnlySpan<T> bits, T mask)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ReadOnlySpan<Vector<T>> vectors = MemoryMarshal.Cast<T, Vector<T>>(bits);
            var masks = new Vector<T>(mask);
            for (int v = 0; v < vectors.Length; v += 64)
            {
                // The largest masked exponent of 64 vectors (unsigned); all bits set somewhere means NaN or ±∞ there.
                Vector<T> top = Vector<T>.Zero;
                foreach (Vector<T> x in vectors.Slice(v, Math.Min(64, vectors.Length - v)))
                {
                    top = Vector.Max(top, x & masks);
                }

                if (Vector.EqualsAny(top, masks))
                {
                    return false;
                }
            }

            i = vectors.Length * Vector<T>.Count;
        }

        for (; i < bits.Length; i++)
        {
            if ((bits[i] & mask) == mask)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Exact float16 → float32 for 4 bit patterns (in the low 16 bits): exponent and mantissa moved into place and the exponent
    /// rebiased by 112; ±∞/NaN (exponent 31) rebiased by 112 more to 255; zeros and subnormals built as 2⁻¹⁴·(1 + m/1024) and
    /// 2⁻¹⁴ subtracted (exact), giving m·2⁻²⁴; the sign last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> HalfToSingle(Vector128<uint> h)
    {
        Vector128<uint> exponentField = Vector128.Create(0x0F800000u);
        Vector128<uint> shifted = Vector128.ShiftLeft(h & Vector128.Create(0x7FFFu), 13);
        Vector128<uint> exponent = shifted & exponentField;
        Vector128<uint> rebias = Vector128.Create(112u << 23);
        Vector128<uint> bits = shifted + rebias;
        bits += Vector128.Equals(exponent, exponentField) & rebias;
        Vector128<uint> small = Vector128.Equals(exponent, Vector128<uint>.Zero);
        Vector128<float> tiny = (bits + Vector128.Create(1u << 23)).AsSingle() - Vector128.Create(113u << 23).AsSingle();
        Vector128<uint> magnitude = Vector128.ConditionalSelect(small, tiny.AsUInt32(), bits);
        return (magnitude | Vector128.ShiftLeft(h & Vector128.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>The storage array behind a tensor of any element type.</summary>
    public static Array StorageOf(Tensor tensor) => tensor switch
    {
        Tensor<float> t => t.Data,
        Tensor<Half> t => t.Data,
        Tensor<BFloat16> t => t.Data,
        Tensor<double> t => t.Data,
        Tensor<bool> t => t.Data,
        Tensor<long> t => t.Data,
        _ => throw new ArgumentException($"unsupported tensor {tensor}", nameof(tensor)),
    };

    /// <summary>
    /// True when no element of a floating-point tensor is NaN or ±∞. Kernels skip key tiles that the causal, window or
    /// nonpad rules mask only when Q and K are finite: a masked score adds −∞, and NaN or +∞ plus −∞ is NaN.
    /// </summary>
    public static bool AllFinite(Tensor tensor)
    {
        switch (tensor)
        {
            case Tensor<float> t:
                return AllFinite(t.Data);

            case Tensor<Half> t:
                return NoneHasAllBits(MemoryMarshal.Cast<Half, ushort>(t.Data), (ushort)0x7C00);
            case Tensor<BFloat16> t:
                return NoneHasAllBits(MemoryMarshal.Cast<BFloat16, ushort>(t.Data), (ushort)0x7F80);
            case Tensor<double> t:
                return NoneHasAllBits(MemoryMarshal.Cast<double, ulong>(t.Data), 0x7FF0000000000000ul);
            default:
                return true;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Index(int b, int head, int position) =>
        ((long)b * _batchStride) + ((long)head * _headStride) + ((long)position * _positionStride);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    private void Convert(long index, float* destination, float factor)
    {
        int n = RowLength;
        switch (DType)
        {
            case DType.Float32:
                {
                    float* s = (float*)_base + index;
                    for (int i = 0; i < n; i++) destination[i] = s[i] * factor;
                    break;
                }

            case DType.Float16:
                {
                    Half* s = (Half*)_base + index;
                    int i = 0;
                    if (Vector128.IsHardwareAccelerated)
                    {
                        Vector128<float> scale = Vector128.Create(factor);
                        for (; i <= n - 8; i += 8)
                        {
                            (Vector128<uint> low, Vector128<uint> high) = Vector128.Widen(Vector128.Load((ushort*)s + i));
                            Vector128.Store(HalfToSingle(low) * scale, destination + i);
                            Vector128.Store(HalfToSingle(high) * scale, destination + i + 4);
                        }
                    }

                    for (; i < n; i++) destination[i] = (float)s[i] * factor;
                    break;
                }

            case DType.BFloat16:
                {
                    ushort* s = (ushort*)_base + index;
                    int i = 0;
                    if (Vector128.IsHardwareAccelerated)
                    {
                        // A bfloat16 is the high half of a float: widen, shift into place, scale (as the scalar loop does).
                        Vector128<float> scale = Vector128.Create(factor);
                        for (; i <= n - 8; i += 8)
                        {
                            (Vector128<uint> low, Vector128<uint> high) = Vector128.Widen(Vector128.Load(s + i));
                            Vector128.Store(Vector128.ShiftLeft(low, 16).AsSingle() * scale, destination + i);
                            Vector128.Store(Vector128.ShiftLeft(high, 16).AsSingle() * scale, destination + i + 4);
                        }
                    }

                    for (; i < n; i++) destination[i] = BitConverter.Int32BitsToSingle(s[i] << 16) * factor;
                    break;
                }

            default:
                {
                    double* s = (double*)_base + index;
                    for (int i = 0; i < n; i++) destination[i] = (float)s[i] * factor;
                    break;
                }
        }
    }
}
