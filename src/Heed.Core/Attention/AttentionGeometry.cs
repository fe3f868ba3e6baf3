using System.Globalization;

namespace Heed;

/// <summary>
/// The sizes of one <c>Attention</c> call, found and checked before any arithmetic.
/// Every rule of the semantics that an input can break is checked here, once, for the reference and every kernel.
/// </summary>
public sealed record AttentionGeometry
{
    /// <summary>B, the batch size.</summary>
    public required int Batch { get; init; }

    /// <summary>H, the number of query heads.</summary>
    public required int NumHeads { get; init; }

    /// <summary>Hkv, the number of key/value heads (H is a multiple of it).</summary>
    public required int KvNumHeads { get; init; }

    /// <summary>T, the query length.</summary>
    public required int QueryLength { get; init; }

    /// <summary>P, the past (cached) length; 0 without a cache.</summary>
    public required int PastLength { get; init; }

    /// <summary>S = P + Skv, the total key/value length.</summary>
    public required int KvLength { get; init; }

    /// <summary>D, the query/key head size.</summary>
    public required int HeadSize { get; init; }

    /// <summary>Dv, the value head size.</summary>
    public required int ValueHeadSize { get; init; }

    /// <summary>True when the inputs are 3-D ([B, T, H·D]).</summary>
    public required bool IsPacked { get; init; }

    /// <summary>The scale applied to Q·Kᵀ (the option, or 1/√D).</summary>
    public required double Scale { get; init; }

    /// <summary>The key/value head that query head <paramref name="head"/> reads: h / (H / Hkv).</summary>
    public int KvHeadOf(int head) => head / (NumHeads / KvNumHeads);

    /// <summary>Checks every input against the rules of the ONNX <c>Attention</c> operator and returns the sizes.</summary>
    /// <exception cref="HeedException">An input breaks a rule; the message names the input, the axis, the value found and what was expected.</exception>
    public static AttentionGeometry Resolve(AttentionInputs inputs, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        Tensor q = inputs.Query, k = inputs.Key, v = inputs.Value;
        RequireFloat("Q", q);
        RequireFloat("K", k);
        RequireFloat("V", v);

        if (q.Rank != k.Rank || q.Rank != v.Rank || (q.Rank != 3 && q.Rank != 4))
        {
            throw new HeedException($"Q, K and V must all be 3-D [B, T, H*D] or all 4-D [B, H, T, D]; got Q {q.ShapeText}, K {k.ShapeText}, V {v.ShapeText}");
        }

        bool packed = q.Rank == 3;
        int batch = q.Dim(0);
        int heads, kvHeads, queryLength, newKvLength, headSize, valueHeadSize;
        if (packed)
        {
            if (options.QNumHeads is not int qh || options.KvNumHeads is not int kvh)
            {
                throw new HeedException("3-D inputs need both q_num_heads and kv_num_heads to split the hidden axis into heads");
            }

            if (qh <= 0 || kvh <= 0)
            {
                throw new HeedException($"q_num_heads ({qh}) and kv_num_heads ({kvh}) must be positive");
            }

            heads = qh;
            kvHeads = kvh;
            queryLength = q.Dim(1);
            newKvLength = k.Dim(1);
            headSize = SplitHidden("Q", q.Dim(2), heads, "q_num_heads");
            int keyHeadSize = SplitHidden("K", k.Dim(2), kvHeads, "kv_num_heads");
            valueHeadSize = SplitHidden("V", v.Dim(2), kvHeads, "kv_num_heads");
            if (keyHeadSize != headSize)
            {
                throw new HeedException($"K head size {keyHeadSize} (hidden {k.Dim(2)} / kv_num_heads {kvHeads}) differs from Q head size {headSize} (hidden {q.Dim(2)} / q_num_heads {heads})");
            }

            CheckAxis("K", k, 0, batch, "batch size of Q");
            CheckAxis("V", v, 0, batch, "batch size of Q");
            CheckAxis("V", v, 1, newKvLength, "sequence length of K");
        }
        else
        {
            if (options.QNumHeads is not null || options.KvNumHeads is not null)
            {
                throw new HeedException($"q_num_heads and kv_num_heads are only for 3-D inputs; 4-D Q {q.ShapeText} already has its heads on axis 1");
            }

            heads = q.Dim(1);
            queryLength = q.Dim(2);
            headSize = q.Dim(3);
            kvHeads = k.Dim(1);
            newKvLength = k.Dim(2);
            valueHeadSize = v.Dim(3);
            CheckAxis("K", k, 0, batch, "batch size of Q");
            CheckAxis("V", v, 0, batch, "batch size of Q");
            CheckAxis("K", k, 3, headSize, "head size of Q");
            CheckAxis("V", v, 1, kvHeads, "key/value heads of K");
            CheckAxis("V", v, 2, newKvLength, "sequence length of K");
            if (heads == 0 || kvHeads == 0)
            {
                throw new HeedException($"Q has {heads} heads and K has {kvHeads}: both need at least one head");
            }
        }

        if (heads % kvHeads != 0)
        {
            throw new HeedException($"K has {kvHeads} heads but Q has {heads}: query heads must be a multiple of key/value heads");
        }

        int pastLength = CheckPast(inputs, batch, kvHeads, headSize, valueHeadSize);
        long totalLength = (long)pastLength + newKvLength;
        if (totalLength > int.MaxValue)
        {
            throw new HeedException($"past length {pastLength} + new key length {newKvLength} exceeds {int.MaxValue}");
        }

        int kvLength = (int)totalLength;
        CheckNonpad(inputs, batch, kvLength);
        CheckMask(inputs.AttnMask, batch, heads, queryLength, kvLength);
        CheckOptions(options);

        // Outputs are allocated whole, so one over the array limit is refused here, before any is allocated.
        CheckOutputSize("Y", "[B, H, T, Dv]", [batch, heads, queryLength, valueHeadSize]);
        CheckOutputSize("present_key", "[B, Hkv, S, D]", [batch, kvHeads, kvLength, headSize]);
        CheckOutputSize("present_value", "[B, Hkv, S, Dv]", [batch, kvHeads, kvLength, valueHeadSize]);
        if (options.ComputeQkMatmulOutput)
        {
            CheckOutputSize("qk_matmul_output", "[B, H, T, S]", [batch, heads, queryLength, kvLength]);
        }

        double scale = options.Scale ?? 1.0 / Math.Sqrt(headSize);
        return new AttentionGeometry
        {
            Batch = batch,
            NumHeads = heads,
            KvNumHeads = kvHeads,
            QueryLength = queryLength,
            PastLength = pastLength,
            KvLength = kvLength,
            HeadSize = headSize,
            ValueHeadSize = valueHeadSize,
            IsPacked = packed,
            Scale = scale,
        };
    }

    private static void CheckOutputSize(string name, string letters, ReadOnlySpan<int> shape)
    {
        if (Tensor.LengthOrNull(shape) is null)
        {
            throw new HeedException(
                $"{name} {letters} = {Tensor.FormatShape(shape)} would hold {Tensor.ExactLength(shape)} elements, more than one array can hold ({Array.MaxLength})");
        }
    }

    private static void RequireFloat(string name, Tensor t)
    {
        if (!DTypes.IsFloatingPoint(t.DType))
        {
            throw new HeedException($"{name} has element type {DTypes.Name(t.DType)}; expected float32, float16, bfloat16 or float64");
        }
    }

    private static int SplitHidden(string name, int hidden, int heads, string attribute)
    {
        if (hidden % heads != 0)
        {
            throw new HeedException($"{name} hidden size {hidden} (axis 2) is not divisible by {attribute} {heads}");
        }

        return hidden / heads;
    }

    private static void CheckAxis(string name, Tensor t, int axis, int expected, string what)
    {
        if (t.Dim(axis) != expected)
        {
            throw new HeedException($"{name} {t.ShapeText} has {t.Dim(axis)} on axis {axis}; expected {expected} (the {what})");
        }
    }

    private static int CheckPast(AttentionInputs inputs, int batch, int kvHeads, int headSize, int valueHeadSize)
    {
        Tensor? pk = inputs.PastKey, pv = inputs.PastValue;
        if (pk is null && pv is null)
        {
            return 0;
        }

        if (pk is null || pv is null)
        {
            throw new HeedException(pk is null
                ? "past_value is given without past_key: give both or neither"
                : "past_key is given without past_value: give both or neither");
        }

        if (inputs.NonpadKvSeqlen is not null)
        {
            throw new HeedException("nonpad_kv_seqlen cannot be combined with past_key/past_value");
        }

        RequireFloat("past_key", pk);
        RequireFloat("past_value", pv);
        if (pk.Rank != 4 || pv.Rank != 4)
        {
            throw new HeedException($"past_key {pk.ShapeText} and past_value {pv.ShapeText} must be 4-D [B, Hkv, P, D] and [B, Hkv, P, Dv]");
        }

        CheckAxis("past_key", pk, 0, batch, "batch size of Q");
        CheckAxis("past_key", pk, 1, kvHeads, "key/value heads");
        CheckAxis("past_key", pk, 3, headSize, "head size of Q and K");
        CheckAxis("past_value", pv, 0, batch, "batch size of Q");
        CheckAxis("past_value", pv, 1, kvHeads, "key/value heads");
        CheckAxis("past_value", pv, 2, pk.Dim(2), "past length of past_key");
        CheckAxis("past_value", pv, 3, valueHeadSize, "value head size of V");
        return pk.Dim(2);
    }

    private static void CheckNonpad(AttentionInputs inputs, int batch, int kvLength)
    {
        if (inputs.NonpadKvSeqlen is not Tensor n)
        {
            return;
        }

        if (n is not Tensor<long> lengths)
        {
            throw new HeedException($"nonpad_kv_seqlen has element type {DTypes.Name(n.DType)}; expected int64");
        }

        if (n.Rank != 1 || n.Dim(0) != batch)
        {
            throw new HeedException($"nonpad_kv_seqlen has shape {n.ShapeText}; expected [{batch}] (one length per batch entry)");
        }

        for (int b = 0; b < batch; b++)
        {
            if (lengths.Data[b] < 0 || lengths.Data[b] > kvLength)
            {
                throw new HeedException($"nonpad_kv_seqlen[{b}] = {lengths.Data[b]} is outside 0..{kvLength} (the key/value length)");
            }
        }
    }

    private static void CheckMask(Tensor? mask, int batch, int heads, int queryLength, int kvLength)
    {
        if (mask is null)
        {
            return;
        }

        if (mask.DType != DType.Bool && !DTypes.IsFloatingPoint(mask.DType))
        {
            throw new HeedException($"attn_mask has element type {DTypes.Name(mask.DType)}; expected bool (true = attend) or a float type (added to the scores)");
        }

        if (mask.Rank is < 1 or > 4)
        {
            throw new HeedException($"attn_mask {mask.ShapeText} has rank {mask.Rank}; expected rank 2 [T, S], 3 [H, T, S] or 4 [B, H, T, S]");
        }

        // Right-aligned broadcasting to [B, H, T, S]; the last axis may be short (missing columns are masked).
        int[] target = [batch, heads, queryLength, kvLength];
        string[] names = ["B", "H", "T", "S"];
        for (int i = 0; i < mask.Rank; i++)
        {
            int axis = mask.Rank - 1 - i;
            int targetAxis = 3 - i;
            int size = mask.Dim(axis);
            if (targetAxis == 3)
            {
                if (size > kvLength || (size == 0 && kvLength > 0))
                {
                    throw new HeedException($"attn_mask {mask.ShapeText} has {size} columns on its last axis; expected 1..{kvLength} (S, the total key length)");
                }
            }
            else if (size != 1 && size != target[targetAxis])
            {
                throw new HeedException($"attn_mask {mask.ShapeText} has {size} on axis {axis}; expected 1 or {target[targetAxis]} ({names[targetAxis]}) to broadcast to [B, H, T, S] = {Tensor.FormatShape(target)}");
            }
        }
    }

    private static void CheckOptions(AttentionOptions options)
    {
        if (options.LeftWindowSize < -1 || options.RightWindowSize < -1)
        {
            throw new HeedException($"window sizes must be -1 (unbounded) or >= 0; got left_window_size {options.LeftWindowSize}, right_window_size {options.RightWindowSize}");
        }

        if (double.IsNaN(options.Softcap) || options.Softcap < 0)
        {
            throw new HeedException($"softcap must be 0 (off) or positive; got {options.Softcap.ToString(CultureInfo.InvariantCulture)}");
        }

        if (options.Scale is double s && (double.IsNaN(s) || double.IsInfinity(s)))
        {
            throw new HeedException($"scale must be finite; got {s.ToString(CultureInfo.InvariantCulture)}");
        }

        if (!Enum.IsDefined(options.QkMatmulOutputMode))
        {
            throw new HeedException($"qk_matmul_output_mode {(int)options.QkMatmulOutputMode} is not 0, 1, 2 or 3");
        }

        if (options.SoftmaxPrecision is SoftmaxPrecision p && !Enum.IsDefined(p))
        {
            throw new HeedException($"softmax_precision {(int)p} is not 1 (float), 10 (float16), 11 (double) or 16 (bfloat16)");
        }
    }
}
