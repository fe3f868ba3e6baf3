namespace Heed.Testing;

/// <summary>Assertions about Heed's bad-input errors.</summary>
public static class HeedAssert
{
    /// <summary>
    /// Asserts that <paramref name="action"/> throws a <see cref="HeedException"/> whose message is one line containing
    /// every one of <paramref name="fragments"/>.
    /// </summary>
    /// <param name="action">The code expected to refuse its input.</param>
    /// <param name="fragments">Text the message must contain (ordinal comparison).</param>
    /// <returns>The exception, for further checks.</returns>
    public static HeedException Fails(Action action, params string[] fragments)
    {
        var ex = Assert.Throws<HeedException>(action);
        Assert.DoesNotContain('\n', ex.Message);
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        }

        return ex;
    }
}
