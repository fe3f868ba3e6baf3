namespace Heed.Explain.Seeds;

/// <summary>
/// The soft key-value lookup of seed 003 ("An Intuition for Attention"): <c>kv_lookup("fruit", ["apple", "banana", "chair"], [10, 5, 2])</c>.
/// The seed draws its word vectors at random; these 3-d vectors are made up for the example instead, so the result is
/// repeatable. Their axes loosely mean "plant food", "sweet" and "furniture", and they are chosen so that "fruit" matches
/// apple and banana about 60/40 and chair hardly at all, as the seed's intuition has it (0.6·10 + 0.4·5 = 8).
/// </summary>
public static class FruitLookup
{
    /// <summary>The seed's query.</summary>
    public const string Query = "fruit";

    /// <summary>The seed's keys.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["apple", "banana", "chair"];

    /// <summary>The seed's values.</summary>
    public static double[] Values() => [10, 5, 2];

    /// <summary>The built-in vectors (made up for the example; not from any trained model).</summary>
    public static WordVectors Vectors() => new(
        new Dictionary<string, double[]>
        {
            ["fruit"] = [2.0, 1.0, -1.0],
            ["apple"] = [1.5, 0.5, -0.5],
            ["banana"] = [1.2, 0.8, -0.4],
            ["orange"] = [1.4, 0.6, -0.5],
            ["vegetable"] = [2.0, -1.0, -1.0],
            ["carrot"] = [1.0, -0.5, -0.5],
            ["furniture"] = [-1.0, 0.0, 2.0],
            ["chair"] = [-0.5, 0.0, 1.0],
            ["table"] = [-0.6, 0.0, 1.2],
            ["sofa"] = [-0.4, 0.1, 1.1],
        },
        "the built-in example vectors (made up for seed 003's example)");

    /// <summary>Runs the seed's lookup on the built-in vectors (unscaled, as the seed does).</summary>
    public static LookupResult Run(bool useReference = false)
    {
        WordVectors v = Vectors();
        return KeyValueLookup.Compute(Query, v.Get(Query, "--query"), Keys, Keys.Select(k => v.Get(k, "--keys")).ToArray(), Values(), 1, useReference);
    }
}
