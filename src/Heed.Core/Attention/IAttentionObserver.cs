namespace Heed;

/// <summary>What an <see cref="IAttentionObserver"/> reads, and so what a traced call computes for it.</summary>
public enum AttentionCaptureContent
{
    /// <summary>
    /// Every intermediate (Q, K, V, scores, probabilities, Y), recomputed by the float64 reference: as exact as the reference,
    /// and about as costly as the whole call again in float64.
    /// </summary>
    Everything,

    /// <summary>
    /// The probabilities alone. Unless the call runs on the reference (<see cref="AttentionOptions.UseReference"/>), Q is not
    /// float32 or a <see cref="AttentionOptions.SoftmaxPrecision"/> is set, they come from the float32 kernels (the <see cref="QkMatmulOutputMode.Probabilities"/> output), widened to
    /// float64 and each row divided by its float64 sum, so that it sums to 1 as the reference's rows do. They differ from the
    /// reference by the float32 rounding of the scores: at most 1.2e-6 over the float32 rules of the kernel parity grid and
    /// 1.8e-6 with scores near ±30, held to 1e-5 by the tests. The capture's other fields are then null.
    /// </summary>
    Probabilities,
}

/// <summary>
/// Listens to attention calls, for tracing and visualization. Set <see cref="AttentionOptions.Observer"/>;
/// when it is null nothing extra is computed or allocated.
/// </summary>
public interface IAttentionObserver
{
    /// <summary>What the observer reads; <see cref="AttentionCaptureContent.Everything"/> unless it says otherwise.</summary>
    AttentionCaptureContent Content => AttentionCaptureContent.Everything;

    /// <summary>Called once per <see cref="Attention.Compute"/> call, after the output is computed.</summary>
    void OnAttention(AttentionCapture capture);
}

/// <summary>
/// What an <see cref="IAttentionObserver"/> receives for one attention call (4-D layouts, float64). Every field is set when the
/// float64 reference computed the capture; when the kernels computed it (see <see cref="AttentionCaptureContent.Probabilities"/>)
/// only <see cref="Geometry"/> and <see cref="Probabilities"/> are.
/// </summary>
/// <param name="Geometry">The sizes of the call.</param>
/// <param name="Query">Q [B, H, T, D]; null for a kernel capture.</param>
/// <param name="Key">K after the cache [B, Hkv, S, D]; null for a kernel capture.</param>
/// <param name="Value">V after the cache [B, Hkv, S, Dv]; null for a kernel capture.</param>
/// <param name="Scores">scale·Q·Kᵀ after softcap and bias [B, H, T, S] (−∞ where masked); null for a kernel capture.</param>
/// <param name="Probabilities">softmax of the scores [B, H, T, S] (zero rows where fully masked).</param>
/// <param name="Output">Y [B, H, T, Dv]; null for a kernel capture.</param>
public sealed record AttentionCapture(
    AttentionGeometry Geometry,
    Tensor<double>? Query,
    Tensor<double>? Key,
    Tensor<double>? Value,
    Tensor<double>? Scores,
    Tensor<double> Probabilities,
    Tensor<double>? Output)
{
    /// <summary>True when the float64 reference computed the capture (every field set).</summary>
    public bool IsReference => Scores is not null;
}
