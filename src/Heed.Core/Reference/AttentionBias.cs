using Heed.Masks;

namespace Heed.Reference;

/// <summary>
/// The additive bias of step 5 of the semantics, one element at a time: attn_mask (boolean → 0/−∞, or additive),
/// causal, sliding window and nonpad_kv_seqlen, summed. 0 where a key may be attended, −∞ where it may not.
/// </summary>
public sealed class AttentionBias
{
    private readonly MaskBias? _mask;
    private readonly long[]? _nonpad;
    private readonly bool _causal;
    private readonly int _left;
    private readonly int _right;
    private readonly int _queryLength;
    private readonly int _pastLength;

    /// <summary>Prepares the bias for one call; the inputs must already have passed <see cref="AttentionGeometry.Resolve"/>.</summary>
    public AttentionBias(AttentionInputs inputs, AttentionOptions options, AttentionGeometry geometry)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(geometry);
        _mask = inputs.AttnMask is Tensor mask ? new MaskBias(mask) : null;

        _nonpad = (inputs.NonpadKvSeqlen as Tensor<long>)?.Data;
        _causal = options.IsCausal;
        _left = options.LeftWindowSize;
        _right = options.RightWindowSize;
        _queryLength = geometry.QueryLength;
        _pastLength = geometry.PastLength;
    }

    /// <summary>The position offset of batch entry <paramref name="b"/>: P with a past cache, nonpad_kv_seqlen[b] − T with it, else 0. Query i sits at position i + offset.</summary>
    public long Offset(int b) => _nonpad is not null ? _nonpad[b] - _queryLength : _pastLength;

    /// <summary>The bias for query <paramref name="i"/> and key <paramref name="j"/> of head <paramref name="h"/>, batch <paramref name="b"/>.</summary>
    public double At(int b, int h, int i, int j)
    {
        long position = i + Offset(b);
        if (_causal && j > position)
        {
            return double.NegativeInfinity;
        }

        if (_left >= 0 && j < position - _left)
        {
            return double.NegativeInfinity;
        }

        if (_right >= 0 && j > position + _right)
        {
            return double.NegativeInfinity;
        }

        if (_nonpad is not null && j >= _nonpad[b])
        {
            return double.NegativeInfinity;
        }

        return _mask?.At(b, h, i, j) ?? 0;
    }
}
