using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Heed.Models.Gguf;

namespace Heed.Models.Blocks;

/// <summary>
/// Y = X·Wᵀ for weights stored in ggml's block types (F16, BF16, Q8_0, Q4_K, Q6_K), dequantized in registers and
/// accumulated in float32: each stored weight is read once per product, whatever T is. Output rows are split across a
/// <see cref="ThreadTeam"/>. The AVX-512 tier expands 16 weights per instruction chain; other machines expand a block
/// into a stack buffer with <see cref="Dequantize"/> and take <see cref="Linear.Dot"/> (which has the 256 and 128-bit tiers).
/// </summary>
internal static class QuantizedLinear
{
    // Below this many stored bytes, waking other threads costs more than the product.
    private const long ParallelBytes = 1L << 15;

    // From this many rows of X on (prefill), each group of four weight rows is expanded to float32 once and multiplied with
    // every row of X by Linear.Tile4x4, instead of expanding the weights again for every row of X; from Gemm.PrefillRows on,
    // 64 rows at a time are expanded, packed as a strip [in, 64] and multiplied by the encoder's tiles instead.
    private const int TileRows = 4;

    [ThreadStatic]
    private static ProductJob? _threadJob;

    [ThreadStatic]
    private static ProductJob[]? _groupJobs;

    [ThreadStatic]
    private static float[]? _tile;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void MatMul(WeightMatrix w, byte[] blocks, ReadOnlySpan<float> x, Span<float> y, int rows, bool accumulate, int threads)
    {
        int input = w.Columns, output = w.Rows;
        if (rows <= 0 || x.Length < (long)rows * input || y.Length < (long)rows * output)
        {
            throw new ArgumentException($"MatMul {w.Type}: X holds {x.Length} of {rows}×{input}, Y {y.Length} of {rows}×{output}");
        }

        fixed (byte* pw = blocks)
        fixed (float* px = x, py = y)
        {
            ProductJob job = _threadJob ??= new ProductJob();
            job.Set(w.Type, pw, w.RowBytes, px, py, rows, input, output, accumulate);
            job.Prepare();
            int parts = threads <= 1 || blocks.LongLength < ParallelBytes ? 1 : Math.Min(threads, output);
            if (parts == 1)
            {
                job.Execute(0, 1);
            }
            else
            {
                ThreadTeam.Shared(parts).Run(job, parts);
            }

            job.Clear();
        }
    }

    /// <summary>
    /// Product <paramref name="slot"/> (0–2) of a group run as one team job (<see cref="WeightMatrix.MatMulGroup"/>), set up and
    /// prepared (activations quantized or scaled) but not run; the caller keeps every operand pinned until the group has run.
    /// </summary>
    public static unsafe TeamJob PrepareGroupJob(int slot, WeightMatrix w, byte* blocks, float* x, float* y, int rows, bool accumulate)
    {
        ProductJob[] jobs = _groupJobs ??= [new ProductJob(), new ProductJob(), new ProductJob()];
        ProductJob job = jobs[slot];
        job.Set(w.Type, blocks, w.RowBytes, x, y, rows, w.Columns, w.Rows, accumulate);
        job.Prepare();
        return job;
    }

    /// <summary>Lets go of a group job's pointers.</summary>
    public static void ClearGroupJob(TeamJob job) => ((ProductJob)job).Clear();

    /// <summary>One product's operands as pointers (pinned by the caller for the duration of the product).</summary>
    private sealed unsafe class ProductJob : TeamJob
    {
        // F16 products multiply x·2^112 once per product instead of every converted weight (HalfToSingle's last step):
        // w·2^-112 · x·2^112 is w·x exactly, as long as x·2^112 stays finite, which |x| < 2^15 guarantees.
        private const float F16ScaleLimit = 32768f;

        private GgmlType _type;
        private byte* _w;
        private float* _x;
        private float* _y;
        private int _rowBytes, _rows, _input, _output;
        private bool _accumulate;

        // Scratch kept between products (pinned, grown only when a product needs more): X quantized per block of 256
        // (KQuantDot: values, scales, sums of 16) for Q4_K/Q6_K or per block of 32 (Q8Dot: values, scales) for Q8_0, or
        // X·2^112 for F16.
        private sbyte[] _xq = [];
        private float[] _xd = [];
        private short[] _xSums = [];
        private float[] _xScaled = [];
        private Kind _kind;

        private enum Kind
        {
            Float,
            Integer,
            IntegerQ8,
            ScaledF16,
            Tile,
            Strip,
        }

        public void Set(GgmlType type, byte* w, int rowBytes, float* x, float* y, int rows, int input, int output, bool accumulate)
        {
            _type = type;
            _w = w;
            _rowBytes = rowBytes;
            _x = x;
            _y = y;
            _rows = rows;
            _input = input;
            _output = output;
            _accumulate = accumulate;
        }

        public void Clear()
        {
            _w = null;
            _x = _y = null;
            _kind = Kind.Float;
        }

        /// <summary>Quantizes X for the integer k-quant products, or scales it for the F16 product, where those apply.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Prepare()
        {
            int count = _rows * _input;
            var x = new ReadOnlySpan<float>(_x, count);
            _kind = Kind.Float;
            if (_rows >= Gemm.PrefillRows)
            {
                _kind = Kind.Strip;
            }
            else if (_rows >= TileRows && Avx512F.IsSupported && Avx512BW.IsSupported)
            {
                _kind = Kind.Tile;
            }
            else if (_type is (GgmlType.Q4_K or GgmlType.Q6_K) && WeightMatrix.QuantizeActivations)
            {
                if (_xq.Length < count) _xq = GC.AllocateArray<sbyte>(count, pinned: true);
                if (_xd.Length < count / KQuantDot.Block) _xd = GC.AllocateArray<float>(count / KQuantDot.Block, pinned: true);
                if (_xSums.Length < count / 16) _xSums = GC.AllocateArray<short>(count / 16, pinned: true);
                KQuantDot.Quantize(x, _xq, _xd, _xSums);
                _kind = Kind.Integer;
            }
            else if (_type == GgmlType.Q8_0 && WeightMatrix.QuantizeActivations && Q8Dot.IsSupported)
            {
                if (_xq.Length < count) _xq = GC.AllocateArray<sbyte>(count, pinned: true);
                if (_xd.Length < count / Q8Dot.Block) _xd = GC.AllocateArray<float>(count / Q8Dot.Block, pinned: true);
                Q8Dot.Quantize(x, _xq, _xd);
                _kind = Kind.IntegerQ8;
            }
            else if (_type == GgmlType.F16 && Avx512F.IsSupported && Avx512BW.IsSupported)
            {
                if (_xScaled.Length < count) _xScaled = GC.AllocateArray<float>(count, pinned: true);
                Span<float> scaled = _xScaled.AsSpan(0, count);
                if (ScaleBelow(x, HalfRebias, F16ScaleLimit, scaled)) _kind = Kind.ScaledF16;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public override void Execute(int part, int parts)
        {
            if (_kind == Kind.Tile)
            {
                ExecuteTiles(part, parts);
                return;
            }

            if (_kind == Kind.Strip)
            {
                ExecuteStrips(part, parts);
                return;
            }

            int first = (int)((long)_output * part / parts), last = (int)((long)_output * (part + 1) / parts);
            int blocks = _input / KQuantDot.Block;
            if (_kind == Kind.Integer && _type == GgmlType.Q4_K && _rows == 1 && Avx512BW.IsSupported)
            {
                // Decode: rows two at a time (KQuantDot.DotQ4_KAvx512Pair, the same bits as one at a time).
                for (; first + 2 <= last; first += 2)
                {
                    KQuantDot.DotQ4_KAvx512Pair(ref *(_w + ((long)first * _rowBytes)), _rowBytes, blocks, ref _xq[0], ref _xd[0], ref _xSums[0], out float s0, out float s1);
                    _y[first] = _accumulate ? _y[first] + s0 : s0;
                    _y[first + 1] = _accumulate ? _y[first + 1] + s1 : s1;
                }
            }
            else if (_kind == Kind.Integer && _type == GgmlType.Q6_K && _rows == 1 && Avx512BW.IsSupported)
            {
                // Decode: the rows in one call, without re-slicing and re-checking the operands per row.
                KQuantDot.DotQ6_KRowsAvx512(ref *(_w + ((long)first * _rowBytes)), _rowBytes, last - first, blocks, ref _xq[0], ref _xd[0], ref _xSums[0], ref _y[first], _accumulate);
                first = last;
            }
            else if (_kind == Kind.IntegerQ8 && _rows == 1)
            {
                for (int b32 = _input / Q8Dot.Block; first < last; first++)
                {
                    float s = Q8Dot.Dot(_w + ((long)first * _rowBytes), b32, ref _xq[0], ref _xd[0]);
                    _y[first] = _accumulate ? _y[first] + s : s;
                }
            }

            else if (_kind == Kind.ScaledF16 && _rows == 1)
            {
                // Decode: the rows in one call, as for Q6_K.
                DotF16ScaledRows(ref *(short*)(_w + ((long)first * _rowBytes)), _input, last - first, ref _xScaled[0], ref _y[first], _accumulate);
                first = last;
            }

            for (int o = first; o < last; o++)
            {
                var row = new ReadOnlySpan<byte>(_w + ((long)o * _rowBytes), _rowBytes);
                for (int t = 0; t < _rows; t++)
                {
                    float s = _kind switch
                    {
                        Kind.Integer when _type == GgmlType.Q4_K => KQuantDot.DotQ4_K(row, _xq.AsSpan(t * _input, _input), _xd.AsSpan(t * blocks, blocks), _xSums.AsSpan(t * _input / 16, _input / 16)),
                        Kind.IntegerQ8 => Q8Dot.Dot(_w + ((long)o * _rowBytes), _input / Q8Dot.Block, _xq.AsSpan(t * _input, _input), _xd.AsSpan(t * _input / Q8Dot.Block, _input / Q8Dot.Block)),
                        Kind.Integer => KQuantDot.DotQ6_K(row, _xq.AsSpan(t * _input, _input), _xd.AsSpan(t * blocks, blocks), _xSums.AsSpan(t * _input / 16, _input / 16)),
                        Kind.ScaledF16 => DotF16Scaled(row, _xScaled.AsSpan(t * _input, _input)),
                        _ => Dot(_type, row, new ReadOnlySpan<float>(_x + ((long)t * _input), _input)),
                    };
                    ref float target = ref _y[((long)t * _output) + o];
                    target = _accumulate ? target + s : s;
                }
            }
        }

        // Parts take whole strips of 64 output rows; each strip's rows are expanded to float32 16 at a time (in L1/L2), packed
        // as a strip [in, 64] and multiplied with every row of X (Gemm.MultiplyStrip).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ExecuteStrips(int part, int parts)
        {
            const int S = PackedMatrix.Strip;
            int input = _input, strips = (_output + S - 1) / S;
            int first = (int)((long)strips * part / parts), last = (int)((long)strips * (part + 1) / parts);
            float[] tile = _tile is { } existing && existing.Length >= 16 * input ? existing : (_tile = GC.AllocateArray<float>(16 * input, pinned: true));
            float[] strip = Gemm.StripBuffer(input);
            fixed (float* pt = tile, ps = strip)
            {
                for (int s = first; s < last; s++)
                {
                    int o = s * S, count = Math.Min(S, _output - o);
                    for (int c = 0; c < S; c += 16)
                    {
                        int n = Math.Clamp(count - c, 0, 16);
                        for (int j = 0; j < n; j++) ExpandRow(_type, new ReadOnlySpan<byte>(_w + ((long)(o + c + j) * _rowBytes), _rowBytes), new Span<float>(pt + ((long)j * input), input));
                        Gemm.PackRows16(pt, input, n, input, ps, c);
                    }

                    Gemm.MultiplyStrip(_x, _rows, input, ps, null, _y + o, _output, count, _accumulate);
                }
            }
        }

        // Parts take whole groups of four output rows; each group is expanded to a float32 tile [4, in] (in L1/L2), then
        // multiplied with four rows of X at a time.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ExecuteTiles(int part, int parts)
        {
            int groups = (_output + 3) / 4, input = _input;
            int firstGroup = (int)((long)groups * part / parts), lastGroup = (int)((long)groups * (part + 1) / parts);
            float[] tile = _tile is { } existing && existing.Length >= 4 * input ? existing : (_tile = new float[4 * input]);
            var x = new ReadOnlySpan<float>(_x, _rows * input);
            for (int g = firstGroup; g < lastGroup; g++)
            {
                int o = 4 * g, count = Math.Min(4, _output - o);
                for (int j = 0; j < count; j++) ExpandRow(_type, new ReadOnlySpan<byte>(_w + ((long)(o + j) * _rowBytes), _rowBytes), tile.AsSpan(j * input, input));
                if (count < 4)
                {
                    for (int j = 0; j < count; j++)
                    {
                        for (int t = 0; t < _rows; t++)
                        {
                            float s = Linear.Dot(tile.AsSpan(j * input, input), x.Slice(t * input, input));
                            ref float target = ref _y[((long)t * _output) + o + j];
                            target = _accumulate ? target + s : s;
                        }
                    }

                    continue;
                }

                ReadOnlySpan<float> w0 = tile.AsSpan(0, input), w1 = tile.AsSpan(input, input), w2 = tile.AsSpan(2 * input, input), w3 = tile.AsSpan(3 * input, input);
                int row = 0;
                for (; row + 4 <= _rows && input % 16 == 0; row += 4)
                {
                    Linear.Tile4x4(x.Slice(row * input, 4 * input), w0, w1, w2, w3, new Span<float>(_y + ((long)row * _output) + o, (3 * _output) + 4), _output, _accumulate);
                }

                for (; row < _rows; row++)
                {
                    Linear.Dot4(x.Slice(row * input, input), w0, w1, w2, w3, out float s0, out float s1, out float s2, out float s3);
                    float* yr = _y + ((long)row * _output) + o;
                    if (_accumulate)
                    {
                        yr[0] += s0;
                        yr[1] += s1;
                        yr[2] += s2;
                        yr[3] += s3;
                    }
                    else
                    {
                        yr[0] = s0;
                        yr[1] = s1;
                        yr[2] = s2;
                        yr[3] = s3;
                    }
                }
            }
        }
    }

    /// <summary>
    /// One stored row → float32 values [in], the same values as <see cref="Dequantize.Row"/> bit for bit (the same
    /// float32 operations, 16 values per instruction on AVX-512; other machines take <see cref="Dequantize.Row"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ExpandRow(GgmlType type, ReadOnlySpan<byte> row, Span<float> y)
    {
        if (!Avx512F.IsSupported || !Avx512BW.IsSupported || y.Length % 16 != 0 || row.Length < (long)y.Length / GgmlTypes.BlockElements(type) * GgmlTypes.BlockBytes(type))
        {
            Dequantize.Row(type, row, y);
            return;
        }

        ref byte w = ref MemoryMarshal.GetReference(row);
        ref float ry = ref MemoryMarshal.GetReference(y);
        int n = y.Length;
        switch (type)
        {
            case GgmlType.F16:
                for (int i = 0; i < n; i += 16) HalfToSingle(Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref w), (nuint)i)).StoreUnsafe(ref ry, (nuint)i);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < n; i += 16) (Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref w), (nuint)i)) << 16).AsSingle().StoreUnsafe(ref ry, (nuint)i);
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < n / 32; b++)
                {
                    ref byte block = ref Unsafe.Add(ref w, b * 34);
                    var d = Vector512.Create(HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref block)));
                    (d * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2)).AsSByte()))).StoreUnsafe(ref ry, (nuint)(b * 32));
                    (d * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 18)).AsSByte()))).StoreUnsafe(ref ry, (nuint)((b * 32) + 16));
                }

                break;
            case GgmlType.Q4_K:
                ExpandQ4_K(ref w, ref ry, n / 256);
                break;
            case GgmlType.Q6_K:
                ExpandQ6_K(ref w, ref ry, n / 256);
                break;
            default:
                Dequantize.Row(type, row, y);
                break;
        }
    }

    // y = (d·scale)·q − (dmin·min) per sub-block of 32, as Dequantize.Q4_K rounds it (a product, then a difference).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpandQ4_K(ref byte w, ref float y, int blocks)
    {
        Vector128<byte> low = Vector128.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref w, b * 144);
            float d = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref block)), dmin = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, 2)));
            (ulong sc, ulong mn) = KQuantDot.ScalesMinsK4(ref Unsafe.Add(ref block, 4));
            ref float yb = ref Unsafe.Add(ref y, b * 256);
            for (int g = 0; g < 4; g++)
            {
                Vector128<byte> lo = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 16 + (32 * g))), hi = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 32 + (32 * g)));
                var d0 = Vector512.Create(d * (byte)(sc >> (16 * g)));
                var m0 = Vector512.Create(dmin * (byte)(mn >> (16 * g)));
                var d1 = Vector512.Create(d * (byte)(sc >> ((16 * g) + 8)));
                var m1 = Vector512.Create(dmin * (byte)(mn >> ((16 * g) + 8)));
                ((d0 * Nibbles(lo & low)) - m0).StoreUnsafe(ref yb, (nuint)(64 * g));
                ((d0 * Nibbles(hi & low)) - m0).StoreUnsafe(ref yb, (nuint)((64 * g) + 16));
                ((d1 * Nibbles(Vector128.ShiftRightLogical(lo, 4))) - m1).StoreUnsafe(ref yb, (nuint)((64 * g) + 32));
                ((d1 * Nibbles(Vector128.ShiftRightLogical(hi, 4))) - m1).StoreUnsafe(ref yb, (nuint)((64 * g) + 48));
            }
        }
    }

    // y = (d·scale)·(q − 32) per group of 16, as Dequantize.Q6_K rounds it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpandQ6_K(ref byte w, ref float y, int blocks)
    {
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F), two = Vector128.Create((byte)3);
        Vector512<float> offset = Vector512.Create(32f);
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref w, b * 210);
            float d = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, 208)));
            for (int half = 0; half < 2; half++)
            {
                ref byte ql = ref Unsafe.Add(ref block, 64 * half);
                ref byte qh = ref Unsafe.Add(ref block, 128 + (32 * half));
                ref float yh = ref Unsafe.Add(ref y, (b * 256) + (128 * half));
                for (int l = 0; l < 32; l += 16)
                {
                    Vector128<byte> h = Vector128.LoadUnsafe(ref qh, (nuint)l);
                    Vector128<byte> a = Vector128.LoadUnsafe(ref ql, (nuint)l), c = Vector128.LoadUnsafe(ref ql, (nuint)(l + 32));
                    int s = 192 + (8 * half) + (l / 16);
                    (Vector512.Create(d * (sbyte)Unsafe.Add(ref block, s)) * (Nibbles((a & lowMask) | ((h & two) << 4)) - offset)).StoreUnsafe(ref yh, (nuint)l);
                    (Vector512.Create(d * (sbyte)Unsafe.Add(ref block, s + 2)) * (Nibbles((c & lowMask) | (((h >>> 2) & two) << 4)) - offset)).StoreUnsafe(ref yh, (nuint)(l + 32));
                    (Vector512.Create(d * (sbyte)Unsafe.Add(ref block, s + 4)) * (Nibbles((a >>> 4) | (((h >>> 4) & two) << 4)) - offset)).StoreUnsafe(ref yh, (nuint)(l + 64));
                    (Vector512.Create(d * (sbyte)Unsafe.Add(ref block, s + 6)) * (Nibbles((c >>> 4) | ((h >>> 6) << 4)) - offset)).StoreUnsafe(ref yh, (nuint)(l + 96));
                }
            }
        }
    }

    /// <summary>y = factor·x when every |x| is below <paramref name="limit"/> (true); false, y undefined, otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ScaleBelow(ReadOnlySpan<float> x, float factor, float limit, Span<float> y)
    {
        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ry = ref MemoryMarshal.GetReference(y[..x.Length]);
        int i = 0;
        Vector512<float> max = Vector512<float>.Zero, f = Vector512.Create(factor);
        for (; i <= x.Length - 16; i += 16)
        {
            Vector512<float> v = Vector512.LoadUnsafe(ref rx, (nuint)i);
            max = Vector512.Max(max, Vector512.Abs(v));
            (v * f).StoreUnsafe(ref ry, (nuint)i);
        }

        // NaN fails every comparison: such an x takes the unscaled path, which propagates it.
        bool below = Vector512.LessThanAll(max, Vector512.Create(limit));
        for (; i < x.Length; i++)
        {
            float v = Unsafe.Add(ref rx, i);
            below &= MathF.Abs(v) < limit;
            Unsafe.Add(ref ry, i) = v * factor;
        }

        return below;
    }

    /// <summary>Σ w[i]·x[i] for one stored row of <paramref name="type"/> and x [in].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(GgmlType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        if (Avx512F.IsSupported && Avx512BW.IsSupported)
        {
            return type switch
            {
                GgmlType.F16 => DotF16Avx512(row, x),
                GgmlType.BF16 => DotBF16Avx512(row, x),
                GgmlType.Q8_0 => DotQ8_0Avx512(row, x),
                GgmlType.Q4_K => DotQ4_KAvx512(row, x),
                GgmlType.Q6_K => DotQ6_KAvx512(row, x),
                _ => DotByBlocks(type, row, x),
            };
        }

        return DotByBlocks(type, row, x);
    }

    /// <summary>The portable tier: each block (or run of 256 float16/bfloat16 values) dequantized to the stack, then a float32 dot product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotByBlocks(GgmlType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        int block = GgmlTypes.BlockElements(type), bytes = GgmlTypes.BlockBytes(type);
        int chunk = block == 1 ? 256 : block; // float types dequantize 256 values at a time
        Span<float> buffer = stackalloc float[256];
        float sum = 0;
        for (int i = 0; i < x.Length; i += chunk)
        {
            int n = Math.Min(chunk, x.Length - i);
            Span<float> values = buffer[..n];
            Dequantize.Row(type, row.Slice(i / block * bytes, n / block * bytes), values);
            sum += Linear.Dot(values, x.Slice(i, n));
        }

        return sum;
    }

    // A finite float16 h becomes a float32 in three steps: sign-extend its 16 bits to 32, shift left by 13 and keep the
    // sign, exponent and mantissa bits (mask 0x8FFFE000), which reads as the float32 2^-112·value, then multiply by 2^112.
    // Exact for every finite value, subnormals and ±0 included; a float16 ∞ or NaN would come out finite, which is why the
    // loader refuses non-finite float16 weights and scales (WeightMatrix.FromBlocks). llama.cpp uses F16C instructions, which
    // .NET does not expose.
    internal const int HalfMask = unchecked((int)0x8FFFE000);
    internal const float HalfRebias = 5.192297e33f; // 2^112

    /// <summary>
    /// A finite float16 (little-endian bits) as float32, exactly, without a subnormal float32 on the way: the 11-bit
    /// significand (the implicit 1 included for normal values) times 2^(e − 25), with e = 1 for subnormals. Block scales of
    /// real weights are often float16 subnormals (a Q6_K d of 1e-5 is one), and a multiply with a subnormal input took
    /// three times as long per block on the machine the benchmarks ran on (docs/kernels.md, GGUF entry 21).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HalfToSingle(ushort bits)
    {
        int e = (bits >> 10) & 0x1F, normal = (e + 31) >> 5; // 1 unless e = 0
        int significand = (bits & 0x3FF) | (normal << 10);
        float magnitude = significand * BitConverter.Int32BitsToSingle((e + (1 - normal) + 102) << 23);
        return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(magnitude) | ((bits & 0x8000) << 16));
    }

    /// <summary>
    /// Finite float16 values in the low 16 bits of each lane (sign-extended or not) → float32, exactly, with no subnormal
    /// float32 on the way (the scalar <see cref="HalfToSingle(ushort)"/>, lane by lane).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> HalfToSingle(Vector128<int> bits)
    {
        Vector128<int> e = (bits >>> 10) & Vector128.Create(0x1F), normal = (e + Vector128.Create(31)) >>> 5;
        Vector128<int> significand = (bits & Vector128.Create(0x3FF)) | (normal << 10);
        Vector128<float> magnitude = Vector128.ConvertToSingle(significand) * ((e - normal + Vector128.Create(103)) << 23).AsSingle();
        return (magnitude.AsInt32() | ((bits & Vector128.Create(0x8000)) << 16)).AsSingle();
    }

    /// <summary>16 finite float16 values → float32, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfToSingle(Vector256<short> h) => HalfToScaledSingle(h) * Vector512.Create(HalfRebias);

    /// <summary>16 finite float16 values → float32 · 2^-112, exactly (a subnormal float32 for float16 subnormals).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfToScaledSingle(Vector256<short> h) =>
        ((Avx512F.ConvertToVector512Int32(h) << 13) & Vector512.Create(HalfMask)).AsSingle();

    /// <summary>F16 against x·2^112 (see ProductJob.Prepare): the conversion without its multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotF16Scaled(ReadOnlySpan<byte> row, ReadOnlySpan<float> scaledX)
    {
        if (row.Length < 2 * scaledX.Length) throw new ArgumentException($"F16 row of {row.Length} bytes for {scaledX.Length} values", nameof(row));
        float y = 0;
        DotF16ScaledRows(ref Unsafe.As<byte, short>(ref MemoryMarshal.GetReference(row)), scaledX.Length, 1, ref MemoryMarshal.GetReference(scaledX), ref y, accumulate: false);
        return y;
    }

    /// <summary>
    /// <see cref="DotF16Scaled"/> for <paramref name="rows"/> rows of <paramref name="n"/> values one after another, y[r] = (or
    /// +=) row r · x: the rows of a decode product in one call, each row's sums folded in eight instructions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotF16ScaledRows(ref short w, int n, int rows, ref float rx, ref float y, bool accumulate)
    {
        for (int r = 0; r < rows; r++)
        {
            ref short row = ref Unsafe.Add(ref w, (nint)r * n);
            int i = 0;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0;
            for (; i <= n - 32; i += 32)
            {
                a0 = Vector512.FusedMultiplyAdd(HalfToScaledSingle(Vector256.LoadUnsafe(ref row, (nuint)i)), Vector512.LoadUnsafe(ref rx, (nuint)i), a0);
                a1 = Vector512.FusedMultiplyAdd(HalfToScaledSingle(Vector256.LoadUnsafe(ref row, (nuint)i + 16)), Vector512.LoadUnsafe(ref rx, (nuint)i + 16), a1);
            }

            float sum = VectorMath.SumAcross(a0 + a1);
            for (; i < n; i++) sum += BitConverter.Int32BitsToSingle(((short)Unsafe.Add(ref row, i) << 13) & HalfMask) * Unsafe.Add(ref rx, i);
            ref float out0 = ref Unsafe.Add(ref y, r);
            out0 = accumulate ? out0 + sum : sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotF16Avx512(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        ref short w = ref Unsafe.As<byte, short>(ref MemoryMarshal.GetReference(row));
        ref float rx = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0;
        for (; i <= n - 32; i += 32)
        {
            a0 = Vector512.FusedMultiplyAdd(HalfToSingle(Vector256.LoadUnsafe(ref w, (nuint)i)), Vector512.LoadUnsafe(ref rx, (nuint)i), a0);
            a1 = Vector512.FusedMultiplyAdd(HalfToSingle(Vector256.LoadUnsafe(ref w, (nuint)i + 16)), Vector512.LoadUnsafe(ref rx, (nuint)i + 16), a1);
        }

        float sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++) sum += HalfToSingle((ushort)Unsafe.Add(ref w, i)) * Unsafe.Add(ref rx, i);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotBF16Avx512(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        ref ushort w = ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(row));
        ref float rx = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0;
        for (; i <= n - 32; i += 32)
        {
            Vector512<float> w0 = (Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w, (nuint)i)) << 16).AsSingle();
            Vector512<float> w1 = (Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref w, (nuint)i + 16)) << 16).AsSingle();
            a0 = Vector512.FusedMultiplyAdd(w0, Vector512.LoadUnsafe(ref rx, (nuint)i), a0);
            a1 = Vector512.FusedMultiplyAdd(w1, Vector512.LoadUnsafe(ref rx, (nuint)i + 16), a1);
        }

        float sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++) sum += BitConverter.Int32BitsToSingle(Unsafe.Add(ref w, i) << 16) * Unsafe.Add(ref rx, i);
        return sum;
    }

    /// <summary>Q8_0: per block, Σ q·x in a vector, then scaled by the block's d into the running sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotQ8_0Avx512(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref float rx = ref MemoryMarshal.GetReference(x);
        Vector512<float> acc = Vector512<float>.Zero;
        for (int b = 0, blocks = x.Length / 32; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref w, b * 34);
            float d = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref block));
            Vector512<float> q0 = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2)).AsSByte()));
            Vector512<float> q1 = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 18)).AsSByte()));
            Vector512<float> s = q0 * Vector512.LoadUnsafe(ref rx, (nuint)(b * 32));
            s = Vector512.FusedMultiplyAdd(q1, Vector512.LoadUnsafe(ref rx, (nuint)(b * 32) + 16), s);
            acc = Vector512.FusedMultiplyAdd(s, Vector512.Create(d), acc);
        }

        return Vector512.Sum(acc);
    }

    /// <summary>
    /// Q4_K: per sub-block of 32, Σ q·x and Σ x in vectors; the sub-block adds (d·scale)·Σqx − (dmin·min)·Σx.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotQ4_KAvx512(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        ref float rx = ref MemoryMarshal.GetReference(x);
        Vector512<float> acc = Vector512<float>.Zero;
        Vector128<byte> low = Vector128.Create((byte)0x0F);
        for (int b = 0, blocks = x.Length / 256; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * 144, 144);
            float d = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref MemoryMarshal.GetReference(block)));
            float dmin = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref MemoryMarshal.GetReference(block), 2)));
            ReadOnlySpan<byte> scales = block.Slice(4, 12);
            ref byte q = ref Unsafe.Add(ref MemoryMarshal.GetReference(block), 16);
            ref float xb = ref Unsafe.Add(ref rx, b * 256);
            for (int g = 0; g < 4; g++)
            {
                Vector128<byte> lo = Vector128.LoadUnsafe(ref q, (nuint)(32 * g)), hi = Vector128.LoadUnsafe(ref q, (nuint)((32 * g) + 16));
                ref float x0 = ref Unsafe.Add(ref xb, 64 * g);
                Vector512<float> xa = Vector512.LoadUnsafe(ref x0), xbv = Vector512.LoadUnsafe(ref x0, 16);
                Vector512<float> xc = Vector512.LoadUnsafe(ref x0, 32), xd = Vector512.LoadUnsafe(ref x0, 48);
                Vector512<float> s0 = (Nibbles(lo & low) * xa) + (Nibbles(hi & low) * xbv);
                Vector512<float> s1 = (Nibbles(Vector128.ShiftRightLogical(lo, 4)) * xc) + (Nibbles(Vector128.ShiftRightLogical(hi, 4)) * xd);
                (int sc0, int m0) = Dequantize.ScaleMinK4(2 * g, scales);
                (int sc1, int m1) = Dequantize.ScaleMinK4((2 * g) + 1, scales);
                acc = Vector512.FusedMultiplyAdd(s0, Vector512.Create(d * sc0), acc);
                acc = Vector512.FusedMultiplyAdd(s1, Vector512.Create(d * sc1), acc);
                acc = Vector512.FusedMultiplyAdd(xa + xbv, Vector512.Create(-(dmin * m0)), acc);
                acc = Vector512.FusedMultiplyAdd(xc + xd, Vector512.Create(-(dmin * m1)), acc);
            }
        }

        return Vector512.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Nibbles(Vector128<byte> values) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(values));

    /// <summary>Q6_K: 16 values share a scale; per group of 16, Σ (q − 32)·x scaled by d·scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotQ6_KAvx512(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        ref float rx = ref MemoryMarshal.GetReference(x);
        Vector512<float> acc = Vector512<float>.Zero;
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F), two = Vector128.Create((byte)3);
        Vector512<float> offset = Vector512.Create(32f);
        for (int b = 0, blocks = x.Length / 256; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * 210, 210);
            float d = HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref MemoryMarshal.GetReference(block), 208)));
            ref byte start = ref MemoryMarshal.GetReference(block);
            for (int half = 0; half < 2; half++)
            {
                ref byte ql = ref Unsafe.Add(ref start, 64 * half);
                ref byte qh = ref Unsafe.Add(ref start, 128 + (32 * half));
                ref float xh = ref Unsafe.Add(ref rx, (b * 256) + (128 * half));
                for (int l = 0; l < 32; l += 16)
                {
                    Vector128<byte> h = Vector128.LoadUnsafe(ref qh, (nuint)l);
                    Vector128<byte> a = Vector128.LoadUnsafe(ref ql, (nuint)l), c = Vector128.LoadUnsafe(ref ql, (nuint)(l + 32));
                    Vector128<byte> q0 = (a & lowMask) | ((h & two) << 4);
                    Vector128<byte> q1 = (c & lowMask) | (((h >>> 2) & two) << 4);
                    Vector128<byte> q2 = (a >>> 4) | (((h >>> 4) & two) << 4);
                    Vector128<byte> q3 = (c >>> 4) | ((h >>> 6) << 4);
                    int s = 192 + (8 * half) + (l / 16);
                    acc = Vector512.FusedMultiplyAdd((Nibbles(q0) - offset) * Vector512.LoadUnsafe(ref xh, (nuint)l), Vector512.Create(d * (sbyte)block[s]), acc);
                    acc = Vector512.FusedMultiplyAdd((Nibbles(q1) - offset) * Vector512.LoadUnsafe(ref xh, (nuint)(l + 32)), Vector512.Create(d * (sbyte)block[s + 2]), acc);
                    acc = Vector512.FusedMultiplyAdd((Nibbles(q2) - offset) * Vector512.LoadUnsafe(ref xh, (nuint)(l + 64)), Vector512.Create(d * (sbyte)block[s + 4]), acc);
                    acc = Vector512.FusedMultiplyAdd((Nibbles(q3) - offset) * Vector512.LoadUnsafe(ref xh, (nuint)(l + 96)), Vector512.Create(d * (sbyte)block[s + 6]), acc);
                }
            }
        }

        return Vector512.Sum(acc);
    }
}
