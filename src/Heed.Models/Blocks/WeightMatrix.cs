using System.Runtime.CompilerServices;
using Heed.Models.Gguf;

namespace Heed.Models.Blocks;

/// <summary>
/// A weight matrix W [out, in] in one of ggml's storage types: float32 (used as is), or rows of blocks (F16, BF16, Q8_0,
/// Q4_K, Q6_K) kept in their file form and expanded only inside the products.
/// </summary>
public sealed class WeightMatrix
{
    private readonly float[]? _floats;
    private readonly int _floatOffset;
    private readonly byte[]? _blocks;

    private WeightMatrix(GgmlType type, int rows, int columns, float[]? floats, int floatOffset, byte[]? blocks)
    {
        Type = type;
        Rows = rows;
        Columns = columns;
        _floats = floats;
        _floatOffset = floatOffset;
        _blocks = blocks;
        RowBytes = columns / GgmlTypes.BlockElements(type) * GgmlTypes.BlockBytes(type);
    }

    /// <summary>
    /// Decode products (fewer than 4 rows of X) of Q4_K and Q6_K quantize the activations to int8 per block of 256
    /// (llama.cpp's Q8_K), and those of Q8_0 per block of 32 where AVX-VNNI is available, and multiply with integer dot
    /// products: about half the instructions per weight of the float path, but each product then carries the activations'
    /// rounding (at most half a step of max|x|/127 of its block per value) instead of float32 rounding alone. On by default;
    /// false takes the float path (weights dequantized in registers). See docs/kernels.md for both measured.
    /// </summary>
    public static bool QuantizeActivations { get; set; } = true;

    /// <summary>The storage type.</summary>
    public GgmlType Type { get; }

    /// <summary>out: the number of rows.</summary>
    public int Rows { get; }

    /// <summary>in: the length of a row.</summary>
    public int Columns { get; }

    /// <summary>Bytes per stored row.</summary>
    public int RowBytes { get; }

    /// <summary>The float32 values [out, in] when <see cref="Type"/> is F32, else empty.</summary>
    public ReadOnlySpan<float> Floats => FloatValues;

    private Span<float> FloatValues => _floats is null ? default : _floats.AsSpan(_floatOffset, Rows * Columns);

    /// <summary>The stored rows of blocks [out, RowBytes] when <see cref="Type"/> is not F32, else null.</summary>
    public ReadOnlySpan<byte> Blocks => _blocks;

    /// <summary>Wraps float32 weights W [rows, columns] (not copied).</summary>
    /// <exception cref="ArgumentException">The array does not hold rows·columns values.</exception>
    public static WeightMatrix FromFloats(float[] values, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (rows <= 0 || columns <= 0 || values.LongLength < (long)rows * columns)
        {
            throw new ArgumentException($"weight matrix: {values.Length} values for [{rows}, {columns}]", nameof(values));
        }

        return new WeightMatrix(GgmlType.F32, rows, columns, values, 0, null);
    }

    /// <summary>
    /// Float32 weights W [rows, columns] read into storage from <see cref="AlignedStorage"/>: the values start on a cache line,
    /// so each row of a multiple of 16 columns is whole 64-byte lines (not copied).
    /// </summary>
    internal static WeightMatrix FromFloats(ArraySegment<float> values, int rows, int columns)
    {
        if (values.Array is null || rows <= 0 || columns <= 0 || values.Count != (long)rows * columns)
        {
            throw new ArgumentException($"weight matrix: {values.Count} values for [{rows}, {columns}]", nameof(values));
        }

        return new WeightMatrix(GgmlType.F32, rows, columns, values.Array, values.Offset, null);
    }

    /// <summary>Wraps rows of blocks of <paramref name="type"/> (not copied): rows·columns/BlockElements blocks.</summary>
    /// <exception cref="ArgumentException">The columns are not whole blocks or the array has the wrong length.</exception>
    public static WeightMatrix FromBlocks(GgmlType type, byte[] blocks, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (type == GgmlType.F32)
        {
            throw new ArgumentException("weight matrix: F32 weights are given as floats (FromFloats)", nameof(type));
        }

        int block = GgmlTypes.BlockElements(type);
        if (rows <= 0 || columns <= 0 || columns % block != 0 || blocks.LongLength != (long)rows * (columns / block) * GgmlTypes.BlockBytes(type))
        {
            throw new ArgumentException($"weight matrix {type}: {blocks.Length} bytes for [{rows}, {columns}] (rows of whole blocks of {block})", nameof(blocks));
        }

        if (FirstNonFiniteHalf(type, blocks) is long at and >= 0)
        {
            throw new ArgumentException($"weight matrix {type}: the float16 at byte {at} is ∞ or NaN", nameof(blocks));
        }

        return new WeightMatrix(type, rows, columns, null, 0, blocks);
    }

    /// <summary>
    /// The byte offset of the first float16 that is ∞ or NaN among the values (F16) or block scales (Q8_0, Q4_K, Q6_K) of
    /// <paramref name="blocks"/>, or −1. The products convert float16 with a shortcut that is exact for finite values only.
    /// </summary>
    public static long FirstNonFiniteHalf(GgmlType type, ReadOnlySpan<byte> blocks)
    {
        (int size, int[] offsets) = type switch
        {
            GgmlType.F16 => (2, new[] { 0 }),
            GgmlType.Q8_0 => (34, [0]),
            GgmlType.Q4_K => (144, [0, 2]),
            GgmlType.Q6_K => (210, [208]),
            _ => (0, []),
        };
        for (int at = 0; size > 0 && at <= blocks.Length - size; at += size)
        {
            foreach (int offset in offsets)
            {
                if ((System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(blocks[(at + offset)..]) & 0x7C00) == 0x7C00) return at + offset;
            }
        }

        return -1;
    }

    /// <summary>Row <paramref name="row"/> of W as float32 → <paramref name="y"/> [in].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // each decode step's embedding lookup: no tier-0 code, no tier-up mid-generation
    public void DequantizeRow(int row, Span<float> y)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        if (_floats is not null)
        {
            FloatValues.Slice(row * Columns, Columns).CopyTo(y);
            return;
        }

        Dequantize.Row(Type, _blocks.AsSpan(row * RowBytes, RowBytes), y[..Columns]);
    }

    /// <summary>W as float32 [out, in]: a copy unless the weights are float32 filling the whole array given to <see cref="FromFloats(float[], int, int)"/>.</summary>
    public float[] ToFloats()
    {
        if (_floats is not null) return _floatOffset == 0 && _floats.Length == Rows * Columns ? _floats : FloatValues.ToArray();
        var values = new float[(long)Rows * Columns];
        for (int r = 0; r < Rows; r++) DequantizeRow(r, values.AsSpan(r * Columns, Columns));
        return values;
    }

    /// <summary>
    /// Y = X·Wᵀ (+ Y when <paramref name="accumulate"/>): X [T, in] → Y [T, out], each weight read once for all T rows.
    /// </summary>
    /// <param name="x">X [T, in].</param>
    /// <param name="y">Y [T, out].</param>
    /// <param name="rows">T.</param>
    /// <param name="accumulate">Adds the product to Y (a residual connection).</param>
    /// <param name="threads">At most this many threads.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void MatMul(ReadOnlySpan<float> x, Span<float> y, int rows, bool accumulate = false, int threads = 1)
    {
        if (_floats is not null)
        {
            Linear.MatMul(x, FloatValues, default, y, rows, Columns, Rows, accumulate, threads);
            return;
        }

        QuantizedLinear.MatMul(this, _blocks!, x, y, rows, accumulate, threads);
    }

    /// <summary>
    /// Two or three products of the same X run as one job of the thread team (Q, K and V; the two gate products of a SwiGLU
    /// MLP): each thread takes its share of every product's rows, so the team is woken and waited for once instead of once per
    /// product. Each output is what <see cref="MatMul"/> gives, bit for bit.
    /// </summary>
    /// <param name="x">X [T, in], the input of every product (all three matrices have the same width).</param>
    /// <param name="rows">T.</param>
    /// <param name="threads">At most this many threads.</param>
    /// <param name="w0">The first matrix [out0, in].</param>
    /// <param name="y0">Its output [T, out0].</param>
    /// <param name="w1">The second matrix.</param>
    /// <param name="y1">Its output [T, out1].</param>
    /// <param name="w2">A third matrix, or null.</param>
    /// <param name="y2">Its output [T, out2] (empty without a third matrix).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void MatMulGroup(ReadOnlySpan<float> x, int rows, int threads, WeightMatrix w0, Span<float> y0, WeightMatrix w1, Span<float> y1, WeightMatrix? w2 = null, Span<float> y2 = default)
    {
        ArgumentNullException.ThrowIfNull(w0);
        ArgumentNullException.ThrowIfNull(w1);
        long bytes = w0.StoredBytes + w1.StoredBytes + (w2?.StoredBytes ?? 0);
        if (threads <= 1 || bytes < GroupBytes || w1.Columns != w0.Columns || (w2 is not null && w2.Columns != w0.Columns))
        {
            w0.MatMul(x, y0, rows, threads: threads);
            w1.MatMul(x, y1, rows, threads: threads);
            w2?.MatMul(x, y2, rows, threads: threads);
            return;
        }

        int input = w0.Columns;
        if (rows <= 0 || x.Length < (long)rows * input || y0.Length < (long)rows * w0.Rows || y1.Length < (long)rows * w1.Rows
            || (w2 is not null && y2.Length < (long)rows * w2.Rows))
        {
            throw new ArgumentException($"MatMulGroup: X holds {x.Length} of {rows}×{input}, outputs {y0.Length}, {y1.Length}, {y2.Length}");
        }

        fixed (float* px = x, py0 = y0, py1 = y1, py2 = y2)
        fixed (float* f0 = w0.FloatValues, f1 = w1.FloatValues, f2 = w2 is null ? default : w2.FloatValues)
        fixed (byte* b0 = w0._blocks, b1 = w1._blocks, b2 = w2?._blocks)
        {
            GroupJob group = _groupJob ??= new GroupJob();
            group.Count = w2 is null ? 2 : 3;
            group.Jobs[0] = w0.Prepare(0, px, x.Length, f0, b0, py0, y0.Length, rows);
            group.Jobs[1] = w1.Prepare(1, px, x.Length, f1, b1, py1, y1.Length, rows);
            if (w2 is not null) group.Jobs[2] = w2.Prepare(2, px, x.Length, f2, b2, py2, y2.Length, rows);
            int parts = Math.Min(threads, Math.Min(w0.Rows, Math.Min(w1.Rows, w2?.Rows ?? int.MaxValue)));
            ThreadTeam.Shared(parts).Run(group, parts);
            group.Clear(w0, w1, w2);
        }
    }

    // Below this many stored bytes in all, the products of a group run one after another (each deciding for itself).
    private const long GroupBytes = 1L << 16;

    [ThreadStatic]
    private static GroupJob? _groupJob;

    private long StoredBytes => _floats is not null ? (long)Rows * Columns * sizeof(float) : (long)Rows * RowBytes;

    private unsafe TeamJob Prepare(int slot, float* x, int xLength, float* floats, byte* blocks, float* y, int yLength, int rows) =>
        _floats is not null
            ? Linear.PrepareGroupJob(slot, x, xLength, floats, Rows * Columns, y, yLength, rows, Columns, Rows, accumulate: false)
            : QuantizedLinear.PrepareGroupJob(slot, this, blocks, x, y, rows, accumulate: false);

    /// <summary>Up to three prepared products; part p of n runs part p of n of each in turn.</summary>
    private sealed class GroupJob : TeamJob
    {
        public TeamJob?[] Jobs { get; } = new TeamJob?[3];

        public int Count { get; set; }

        public override void Execute(int part, int parts)
        {
            for (int i = 0; i < Count; i++) Jobs[i]!.Execute(part, parts);
        }

        /// <summary>Lets go of the products' pointers (each job is the kind its matrix prepared).</summary>
        public void Clear(WeightMatrix w0, WeightMatrix w1, WeightMatrix? w2)
        {
            for (int i = 0; i < Count; i++)
            {
                WeightMatrix matrix = i == 0 ? w0 : i == 1 ? w1 : w2!;
                if (matrix._floats is not null) Linear.ClearGroupJob(Jobs[i]!);
                else QuantizedLinear.ClearGroupJob(Jobs[i]!);
                Jobs[i] = null;
            }
        }
    }
}
