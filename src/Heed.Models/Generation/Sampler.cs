using System.Runtime.CompilerServices;
namespace Heed.Models.Generation;

/// <summary>
/// Picks tokens from logits as llama2.c's <c>run.c</c> does (argmax; multinomial; top-p with its cutoff and
/// its xorshift64* generator), plus top-k. With the same seed and options it draws the same tokens as run.c.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly float[] _probabilities;
    private readonly int[] _order;
    private ulong _state;

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    /// <exception cref="HeedException">An option is out of range.</exception>
    public Sampler(int vocabSize, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        options.Validate();
        _options = options;
        _probabilities = new float[vocabSize];
        _order = new int[vocabSize];
        _state = options.Seed;
    }

    /// <summary>Draws the next token id from logits [V] (not modified).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Sample(ReadOnlySpan<float> logits)
    {
        int n = _probabilities.Length;
        if (logits.Length != n)
        {
            throw new ArgumentException($"logits hold {logits.Length} values; the sampler was made for {n}", nameof(logits));
        }

        if (_options.Temperature == 0)
        {
            return ArgMax(logits);
        }

        Span<float> p = _probabilities;
        for (int i = 0; i < n; i++) p[i] = logits[i] / _options.Temperature;
        Softmax(p);
        if (_options.TopK > 0 && _options.TopK < n)
        {
            KeepTopK(p, _options.TopK);
        }

        float coin = NextFloat();
        float topP = _options.TopP;
        return topP <= 0 || topP >= 1 ? SampleMultinomial(p, coin) : SampleTopP(p, topP, coin);
    }

    /// <summary>The index of the largest value; the first one on ties.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        float max = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > max)
            {
                max = values[i];
                best = i;
            }
        }

        return best;
    }

    /// <summary>Max-subtracted softmax in place, in float32 as run.c computes it.</summary>
    public static void Softmax(Span<float> x)
    {
        float max = x[0];
        for (int i = 1; i < x.Length; i++) max = Math.Max(max, x[i]);
        float sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }

        for (int i = 0; i < x.Length; i++) x[i] /= sum;
    }

    // xorshift64* as in run.c: the upper 32 bits of state · 0x2545F4914F6CDD1D.
    internal uint NextUInt32()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        return (uint)((_state * 0x2545F4914F6CDD1DUL) >> 32);
    }

    private float NextFloat() => (NextUInt32() >> 8) / 16777216.0f;

    private static int SampleMultinomial(ReadOnlySpan<float> p, float coin)
    {
        float cdf = 0;
        for (int i = 0; i < p.Length; i++)
        {
            cdf += p[i];
            if (coin < cdf) return i;
        }

        return p.Length - 1; // rounding left the total just below the coin
    }

    // Zeroes all but the k largest probabilities (ties broken toward lower ids) and renormalizes.
    private void KeepTopK(Span<float> p, int k)
    {
        Span<int> order = _order;
        for (int i = 0; i < order.Length; i++) order[i] = i;
        float[] probabilities = _probabilities;
        order.Sort((a, b) => probabilities[b].CompareTo(probabilities[a]) is int c && c != 0 ? c : a.CompareTo(b));
        float kept = 0;
        for (int r = 0; r < k; r++) kept += p[order[r]];
        for (int r = k; r < order.Length; r++) p[order[r]] = 0;
        for (int i = 0; i < p.Length; i++) p[i] /= kept;
    }

    private int SampleTopP(ReadOnlySpan<float> p, float topP, float coin)
    {
        // Tokens below (1 − p)/(n − 1) cannot be in the nucleus: drop them before sorting, as run.c does.
        int n = p.Length;
        float cutoff = (1f - topP) / (n - 1);
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            if (p[i] >= cutoff) _order[count++] = i;
        }

        Span<int> candidates = _order.AsSpan(0, count);
        float[] probabilities = _probabilities;
        candidates.Sort((a, b) => probabilities[b].CompareTo(probabilities[a]) is int c && c != 0 ? c : a.CompareTo(b));

        float cumulative = 0;
        int last = count - 1;
        for (int r = 0; r < count; r++)
        {
            cumulative += p[candidates[r]];
            if (cumulative > topP)
            {
                last = r;
                break;
            }
        }

        float r2 = coin * cumulative;
        float cdf = 0;
        for (int r = 0; r <= last; r++)
        {
            cdf += p[candidates[r]];
            if (r2 < cdf) return candidates[r];
        }

        return candidates[last];
    }
}
