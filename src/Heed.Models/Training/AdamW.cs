using System.Numerics;

namespace Heed.Models.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization"), step for step as <c>torch.optim.AdamW</c>:
/// p ← p·(1 − lr·λ) for decayed parameters; m ← β₁·m + (1 − β₁)·g; v ← β₂·v + (1 − β₂)·g²;
/// p ← p − (lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε).
/// </summary>
/// <typeparam name="T">The parameters' element type.</typeparam>
public sealed class AdamW<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly IReadOnlyList<Parameter<T>> _parameters;

    /// <summary>An optimizer over <paramref name="parameters"/>, with zero moments.</summary>
    public AdamW(IReadOnlyList<Parameter<T>> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters;
        ExpAvg = [.. parameters.Select(p => new T[p.Value.Length])];
        ExpAvgSq = [.. parameters.Select(p => new T[p.Value.Length])];
    }

    /// <summary>β₁ (default 0.9).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>β₂ (default 0.999, PyTorch's).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>ε (default 1e-8).</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>The number of steps taken (t).</summary>
    public int StepCount { get; set; }

    /// <summary>The first moments m, one array per parameter, in the parameters' order.</summary>
    public IReadOnlyList<T[]> ExpAvg { get; }

    /// <summary>The second moments v, one array per parameter.</summary>
    public IReadOnlyList<T[]> ExpAvgSq { get; }

    /// <summary>One step with learning rate <paramref name="lr"/> and decoupled weight decay λ = <paramref name="weightDecay"/>.</summary>
    public void Step(double lr, double weightDecay)
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount), correction2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        double stepSize = lr / correction1;
        for (int n = 0; n < _parameters.Count; n++)
        {
            Parameter<T> p = _parameters[n];
            T[] m = ExpAvg[n], v = ExpAvgSq[n], value = p.Value, grad = p.Grad;
            double decay = p.Decay ? 1 - (lr * weightDecay) : 1;
            for (int i = 0; i < value.Length; i++)
            {
                double g = double.CreateTruncating(grad[i]);
                double mi = (Beta1 * double.CreateTruncating(m[i])) + ((1 - Beta1) * g);
                double vi = (Beta2 * double.CreateTruncating(v[i])) + ((1 - Beta2) * g * g);
                m[i] = T.CreateTruncating(mi);
                v[i] = T.CreateTruncating(vi);
                double denom = (Math.Sqrt(double.CreateTruncating(v[i])) / correction2Sqrt) + Epsilon;
                double pi = double.CreateTruncating(value[i]) * decay;
                value[i] = T.CreateTruncating(pi - (stepSize * double.CreateTruncating(m[i]) / denom));
            }
        }
    }
}

/// <summary>Gradient clipping by global norm.</summary>
public static class GradientClipping
{
    /// <summary>
    /// The global norm √(Σ g²) over every parameter's gradient; when it exceeds <paramref name="maxNorm"/> (> 0) every gradient
    /// is multiplied by maxNorm / (norm + 1e-6), as <c>torch.nn.utils.clip_grad_norm_</c>. Returns the norm before clipping.
    /// </summary>
    public static double ClipGradNorm<T>(IReadOnlyList<Parameter<T>> parameters, double maxNorm)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sum = 0;
        foreach (Parameter<T> p in parameters)
        {
            foreach (T g in p.Grad)
            {
                double d = double.CreateTruncating(g);
                sum += d * d;
            }
        }

        double norm = Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm)
        {
            T scale = T.CreateTruncating(maxNorm / (norm + 1e-6));
            foreach (Parameter<T> p in parameters)
            {
                for (int i = 0; i < p.Grad.Length; i++) p.Grad[i] *= scale;
            }
        }

        return norm;
    }
}
