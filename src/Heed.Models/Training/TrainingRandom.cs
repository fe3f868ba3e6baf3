namespace Heed.Models.Training;

/// <summary>
/// The trainer's random numbers: SplitMix64, whose whole state is one 64-bit integer, so a checkpoint stores it and a resumed
/// run draws exactly the numbers the uninterrupted run would have drawn. The same seed gives the same sequence on every
/// machine and .NET version (System.Random's algorithm is not promised across versions).
/// </summary>
public sealed class TrainingRandom
{
    /// <summary>Starts the sequence of <paramref name="seed"/>.</summary>
    public TrainingRandom(ulong seed) => State = seed;

    /// <summary>The whole state; setting it resumes a sequence saved earlier.</summary>
    public ulong State { get; set; }

    /// <summary>The next 64 random bits (SplitMix64, Steele, Lea and Flood 2014).</summary>
    public ulong NextBits()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextBits() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform integer in [0, <paramref name="count"/>).</summary>
    public int NextInt(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return (int)(NextBits() % (ulong)count);
    }

    /// <summary>A standard normal number (Box–Muller, one of the pair).</summary>
    public double NextNormal()
    {
        double u = 1.0 - NextDouble(); // (0, 1]: the logarithm stays finite
        double v = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v);
    }
}
