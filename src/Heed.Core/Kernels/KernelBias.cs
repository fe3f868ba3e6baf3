using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Heed.Kernels;

/// <summary>
/// Step 5 of the semantics (the additive bias) in the form kernels use: for each query row, the interval [lo, hi] of keys
/// that causal, window, nonpad_kv_seqlen and a short mask leave open (outside it the bias is −∞, so whole tiles can be
/// skipped), plus the attn_mask values inside it, read in place with right-aligned broadcasting.
/// </summary>
internal sealed unsafe class KernelBias : IDisposable
{
    private readonly bool _causal;
    private readonly int _left;
    private readonly int _right;
    private readonly long[]? _nonpad;
    private readonly int _queryLength;
    private readonly int _pastLength;
    private readonly int _kvLength;

    private GCHandle _pin;
    private readonly byte* _mask;
    private readonly DType _maskType;
    private readonly int _maskBatchStride;
    private readonly int _maskHeadStride;
    private readonly int _maskRowStride;
    private readonly int _maskColumns;

    /// <summary>Prepares the bias of one call whose inputs passed <see cref="AttentionGeometry.Resolve"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    public KernelBias(AttentionInputs inputs, AttentionOptions options, AttentionGeometry geometry)
    {
        _causal = options.IsCausal;
        _left = options.LeftWindowSize;
        _right = options.RightWindowSize;
        _nonpad = (inputs.NonpadKvSeqlen as Tensor<long>)?.Data;
        _queryLength = geometry.QueryLength;
        _pastLength = geometry.PastLength;
        _kvLength = geometry.KvLength;
        _maskColumns = geometry.KvLength;
        if (inputs.AttnMask is Tensor mask)
        {
            HasMask = true;
            _maskType = mask.DType;
            int[] shape = [1, 1, 1, 1]; // right-aligned to (B, H, T, S')
            for (int a = 0; a < mask.Rank; a++) shape[4 - mask.Rank + a] = mask.Dim(a);
            _maskColumns = shape[3];
            _maskRowStride = shape[2] == 1 ? 0 : shape[3];
            _maskHeadStride = shape[1] == 1 ? 0 : shape[2] * shape[3];
            _maskBatchStride = shape[0] == 1 ? 0 : shape[1] * shape[2] * shape[3];
            _pin = GCHandle.Alloc(TensorRows.StorageOf(mask), GCHandleType.Pinned);
            _mask = (byte*)_pin.AddrOfPinnedObject();
        }
    }

    /// <summary>True when an attn_mask is given (its values must be added inside each row's open interval).</summary>
    public bool HasMask { get; }

    /// <summary>True when some rule other than attn_mask values can close keys, i.e. some row's interval may be narrower than [0, S−1].</summary>
    public bool HasStructure => _causal || _left >= 0 || _right >= 0 || _nonpad is not null || _maskColumns < _kvLength;

    /// <summary>
    /// The keys [lo, hi] that query row <paramref name="i"/> of batch <paramref name="b"/> may attend by the causal, window,
    /// nonpad and short-mask rules (position p = i + offset; offset P with a cache, nonpad_kv_seqlen[b] − T with it, else 0,
    /// not clamped). lo &gt; hi when none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    public void Range(int b, int i, out int lo, out int hi)
    {
        long position = i + (_nonpad is not null ? _nonpad[b] - _queryLength : _pastLength);
        long low = 0, high = _kvLength - 1L;
        if (_causal) high = Math.Min(high, position);
        if (_left >= 0) low = Math.Max(low, position - _left);
        if (_right >= 0) high = Math.Min(high, position + _right);
        if (_nonpad is not null) high = Math.Min(high, _nonpad[b] - 1);
        high = Math.Min(high, _maskColumns - 1L);
        if (low > high)
        {
            lo = 1;
            hi = 0;
            return;
        }

        lo = (int)low;
        hi = (int)high;
    }

    /// <summary>
    /// Adds the attn_mask bias of keys [j0, j0 + count) to <paramref name="row"/> (row[0] is key j0) for query (b, h, i);
    /// every key must lie inside the row's interval. Returns true when some key's bias is not −∞ (the row is not fully masked).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot from the first call: no tier-0 code
    public bool AddMask(int b, int h, int i, int j0, int count, float* row)
    {
        long start = ((long)b * _maskBatchStride) + ((long)h * _maskHeadStride) + ((long)i * _maskRowStride) + j0;
        bool open = false;
        switch (_maskType)
        {
            case DType.Bool:
                {
                    byte* m = _mask + start;
                    for (int j = 0; j < count; j++)
                    {
                        if (m[j] != 0) open = true;
                        else row[j] = float.NegativeInfinity + row[j];
                    }

                    break;
                }

            case DType.Float32:
                {
                    float* m = (float*)_mask + start;
                    for (int j = 0; j < count; j++)
                    {
                        open |= !float.IsNegativeInfinity(m[j]);
                        row[j] += m[j];
                    }

                    break;
                }

            case DType.Float16:
                {
                    Half* m = (Half*)_mask + start;
                    for (int j = 0; j < count; j++)
                    {
                        float value = (float)m[j];
                        open |= !float.IsNegativeInfinity(value);
                        row[j] += value;
                    }

                    break;
                }

            case DType.BFloat16:
                {
                    ushort* m = (ushort*)_mask + start;
                    for (int j = 0; j < count; j++)
                    {
                        float value = BitConverter.Int32BitsToSingle(m[j] << 16);
                        open |= !float.IsNegativeInfinity(value);
                        row[j] += value;
                    }

                    break;
                }

            default:
                {
                    double* m = (double*)_mask + start;
                    for (int j = 0; j < count; j++)
                    {
                        open |= !double.IsNegativeInfinity(m[j]);
                        row[j] = (float)(row[j] + m[j]);
                    }

                    break;
                }
        }

        return open;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pin.IsAllocated)
        {
            _pin.Free();
        }
    }
}
