using System.Numerics;

namespace Heed.Models.Training;

/// <summary>The next-token loss: mean over the counted positions of −log softmax(logits)[target], and its gradient.</summary>
public static class CrossEntropyLoss
{
    /// <summary>The target that is not counted (PyTorch's <c>ignore_index</c> plays the same part).</summary>
    public const int Ignore = -1;

    /// <summary>
    /// loss = (1/n)·Σ_rows −log softmax(logits[r])[target[r]] over the n rows whose target is not <see cref="Ignore"/>, and
    /// dlogits = (softmax(logits[r]) − onehot(target[r]))/n for them, 0 for the others. logits [N, V], targets [N] → loss,
    /// dlogits [N, V] (written). The softmax subtracts each row's maximum first. With no counted row the loss is 0.
    /// </summary>
    public static double Compute<T>(T[] logits, int[] targets, T[] dLogits, int rows, int vocab)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(dLogits);
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] != Ignore) counted++;
        }

        Array.Clear(dLogits, 0, rows * vocab);
        if (counted == 0) return 0;
        double loss = 0, inv = 1.0 / counted;
        for (int r = 0; r < rows; r++)
        {
            int target = targets[r];
            if (target == Ignore) continue;
            ReadOnlySpan<T> z = logits.AsSpan(r * vocab, vocab);
            Span<T> g = dLogits.AsSpan(r * vocab, vocab);
            double max = double.NegativeInfinity;
            for (int v = 0; v < vocab; v++) max = Math.Max(max, double.CreateTruncating(z[v]));
            double sum = 0;
            for (int v = 0; v < vocab; v++) sum += Math.Exp(double.CreateTruncating(z[v]) - max);
            double logSum = Math.Log(sum) + max;
            loss += logSum - double.CreateTruncating(z[target]);
            for (int v = 0; v < vocab; v++)
            {
                double p = Math.Exp(double.CreateTruncating(z[v]) - logSum);
                g[v] = T.CreateTruncating((p - (v == target ? 1 : 0)) * inv);
            }
        }

        return loss * inv;
    }
}
