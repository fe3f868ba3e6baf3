using System.Globalization;

namespace Heed.Models.Generation;

/// <summary>
/// How the next token is picked from the logits. Temperature 0 is greedy (argmax, the lowest id on ties).
/// Otherwise logits are divided by the temperature and softmaxed; top-k keeps the k most probable tokens,
/// then top-p (nucleus) keeps the smallest most-probable prefix whose mass exceeds p; a token is drawn with the seeded generator.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>0 = greedy; &gt; 0 scales the logits by 1/temperature before the softmax.</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the k most probable tokens; 0 = no limit.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling threshold in (0, 1); values ≤ 0 or ≥ 1 switch it off (as llama2.c does).</summary>
    public float TopP { get; init; } = 0.9f;

    /// <summary>Seed of the xorshift64* generator (llama2.c's); the same seed gives the same tokens.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Checks the values; the message names the option.</summary>
    /// <exception cref="HeedException">A value is out of range.</exception>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
        {
            throw new HeedException($"--temperature {Temperature.ToString(CultureInfo.InvariantCulture)}: expected a finite number ≥ 0 (0 = greedy)");
        }

        if (TopK < 0)
        {
            throw new HeedException($"--top-k {TopK}: expected ≥ 0 (0 = no limit)");
        }

        if (float.IsNaN(TopP) || TopP < 0 || TopP > 1)
        {
            throw new HeedException($"--top-p {TopP.ToString(CultureInfo.InvariantCulture)}: expected a number in [0, 1] (0 or 1 = off)");
        }
    }
}
