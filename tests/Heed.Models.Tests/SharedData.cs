namespace Heed.Models.Tests;

/// <summary>The stories260K model and its tokenizer in the shared folder (see <see cref="TestPaths.Shared"/>).</summary>
internal static class SharedData
{
    public static string Stories260K => TestPaths.Shared("models", "stories260K", "stories260K.bin");

    public static string Tok512 => TestPaths.Shared("models", "stories260K", "tok512.bin");
}

internal static class Assertions
{
    /// <summary>The largest |a − b| over two equally long sequences.</summary>
    public static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - (double)b[i]));
        return max;
    }
}

/// <summary>Seeded test inputs.</summary>
internal static class RandomData
{
    /// <summary><paramref name="count"/> floats uniform in (−range, range).</summary>
    public static float[] Floats(Random random, int count, double range = 1)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(((random.NextDouble() * 2) - 1) * range);
        return values;
    }
}
