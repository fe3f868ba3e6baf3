namespace Heed;

/// <summary>
/// Listens to attention calls, for tracing and visualization. Set <see cref="AttentionOptions.Observer"/>;
/// when it is null nothing extra is computed or allocated.
/// </summary>
public interface IAttentionObserver
{
    /// <summary>Called once per <see cref="Attention.Compute"/> call, after the output is computed.</summary>
    void OnAttention(AttentionCapture capture);
}

/// <summary>What an <see cref="IAttentionObserver"/> receives for one attention call (4-D layouts, float64).</summary>
/// <param name="Geometry">The sizes of the call.</param>
/// <param name="Query">Q [B, H, T, D].</param>
/// <param name="Key">K after the cache [B, Hkv, S, D].</param>
/// <param name="Value">V after the cache [B, Hkv, S, Dv].</param>
/// <param name="Scores">scale·Q·Kᵀ after softcap and bias [B, H, T, S] (−∞ where masked).</param>
/// <param name="Probabilities">softmax of the scores [B, H, T, S] (zero rows where fully masked).</param>
/// <param name="Output">Y [B, H, T, Dv].</param>
public sealed record AttentionCapture(
    AttentionGeometry Geometry,
    Tensor<double> Query,
    Tensor<double> Key,
    Tensor<double> Value,
    Tensor<double> Scores,
    Tensor<double> Probabilities,
    Tensor<double> Output);
