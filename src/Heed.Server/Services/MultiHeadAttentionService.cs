using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Heed.Server.Services;

/// <summary>Which attention weights a multi-head attention call returns.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<WeightsChoice>))]
public enum WeightsChoice
{
    /// <summary>No weights.</summary>
    None,

    /// <summary>[B, H, T, S].</summary>
    PerHead,

    /// <summary>[B, T, S], the mean over heads.</summary>
    Averaged,
}

/// <summary>A multi-head attention layer and its input, as the REST API and the MCP tool take them.</summary>
public sealed record MultiHeadAttentionRequest
{
    /// <summary>x [B, T, C] or [T, C].</summary>
    [Description("The query input x: [B, T, C] or [T, C].")]
    [Required]
    public TensorData? X { get; init; }

    /// <summary>Key/value input [B, S, Ckv] or [S, Ckv]; null = x.</summary>
    [Description("The key/value input [B, S, Ckv] or [S, Ckv]; omit for self-attention.")]
    public TensorData? Memory { get; init; }

    /// <summary>W_q [C, H·D].</summary>
    [Description("W_q [C, H·D], applied as x·W.")]
    [Required]
    public TensorData? Wq { get; init; }

    /// <summary>W_k [Ckv, Hkv·D].</summary>
    [Description("W_k [Ckv, Hkv·D].")]
    [Required]
    public TensorData? Wk { get; init; }

    /// <summary>W_v [Ckv, Hkv·Dv].</summary>
    [Description("W_v [Ckv, Hkv·Dv].")]
    [Required]
    public TensorData? Wv { get; init; }

    /// <summary>W_o [H·Dv, Cout]; null = no output projection.</summary>
    [Description("W_o [H·Dv, Cout]; omit for no output projection.")]
    public TensorData? Wo { get; init; }

    /// <summary>b_q [H·D].</summary>
    [Description("b_q [H·D].")]
    public TensorData? Bq { get; init; }

    /// <summary>b_k [Hkv·D].</summary>
    [Description("b_k [Hkv·D].")]
    public TensorData? Bk { get; init; }

    /// <summary>b_v [Hkv·Dv].</summary>
    [Description("b_v [Hkv·Dv].")]
    public TensorData? Bv { get; init; }

    /// <summary>b_o [Cout].</summary>
    [Description("b_o [Cout].")]
    public TensorData? Bo { get; init; }

    /// <summary>H.</summary>
    [Description("H, the number of query heads.")]
    public int NumHeads { get; init; } = 1;

    /// <summary>Hkv; null = H.</summary>
    [Description("Hkv, the number of key/value heads; default H.")]
    public int? KvNumHeads { get; init; }

    /// <summary>Adds x to the output.</summary>
    [Description("Add x to the output (needs Cout = C).")]
    public bool Residual { get; init; }

    /// <summary>bool [B, S] or [S], true = padded.</summary>
    [Description("bool [B, S] or [S]: 1 = padded (ignored), PyTorch's polarity for this mask.")]
    public TensorData? KeyPaddingMask { get; init; }

    /// <summary>bool (true = attend) or additive, broadcastable to [B, H, T, S].</summary>
    [Description("bool (1 = may attend, ONNX polarity) or additive float, broadcastable to [B, H, T, S].")]
    public TensorData? AttnMask { get; init; }

    /// <summary>Causal mask.</summary>
    [Description("Query i attends keys j <= i.")]
    public bool IsCausal { get; init; }

    /// <summary>Which weights to return.</summary>
    [Description("None, PerHead ([B, H, T, S]) or Averaged ([B, T, S]).")]
    public WeightsChoice Weights { get; init; }

    /// <summary>How tensors in the response are written.</summary>
    [Description("Json or Npy.")]
    public OutputEncoding Encoding { get; init; }
}

/// <summary>The layer's output and, when asked, its attention weights.</summary>
/// <param name="Output">[B, T, Cout] or [T, Cout].</param>
/// <param name="Weights">[B, H, T, S] or [B, T, S] (float64), when asked.</param>
public sealed record MultiHeadAttentionResponse(TensorData Output, TensorData? Weights);

/// <summary>Runs <see cref="MultiHeadAttention"/> on decoded requests.</summary>
public sealed class MultiHeadAttentionService
{
    private readonly TensorCodec _codec;

    /// <summary>Creates the service.</summary>
    public MultiHeadAttentionService(TensorCodec codec) => _codec = codec;

    /// <summary>Builds the layer and runs it: x [B, T, C] → y [B, T, Cout].</summary>
    /// <exception cref="HeedException">An input is missing, over a limit, or does not fit the layer.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired (the attention call stops at its next block of rows).</exception>
    public MultiHeadAttentionResponse Forward(MultiHeadAttentionRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var layer = new MultiHeadAttention(
            _codec.Decode("wq", request.Wq),
            _codec.Decode("wk", request.Wk),
            _codec.Decode("wv", request.Wv),
            request.NumHeads,
            request.KvNumHeads,
            _codec.DecodeOptional("wo", request.Wo),
            _codec.DecodeOptional("bq", request.Bq),
            _codec.DecodeOptional("bk", request.Bk),
            _codec.DecodeOptional("bv", request.Bv),
            _codec.DecodeOptional("bo", request.Bo),
            request.Residual);
        Tensor x = _codec.Decode("x", request.X);
        cancellation.ThrowIfCancellationRequested();
        MultiHeadAttentionResult result = layer.Forward(
            x,
            _codec.DecodeOptional("memory", request.Memory),
            _codec.DecodeOptional("keyPaddingMask", request.KeyPaddingMask),
            _codec.DecodeOptional("attnMask", request.AttnMask),
            request.IsCausal,
            request.Weights switch
            {
                WeightsChoice.PerHead => AttentionWeightsMode.PerHead,
                WeightsChoice.Averaged => AttentionWeightsMode.Averaged,
                _ => AttentionWeightsMode.None,
            },
            cancellation);
        cancellation.ThrowIfCancellationRequested();
        return new MultiHeadAttentionResponse(
            TensorData.From(result.Output, request.Encoding),
            result.Weights is null ? null : TensorData.From(result.Weights, request.Encoding));
    }
}
