namespace Heed.Testing;

/// <summary>A fact that is skipped, with the reason, when any of the shared files or folders it needs is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedFactAttribute : FactAttribute
{
    /// <summary>Needs <paramref name="relative"/> under the shared folder (see <see cref="TestPaths.MissingReason"/>).</summary>
    /// <param name="relative">Paths relative to the shared folder, with '/' between segments.</param>
    public SharedFactAttribute(params string[] relative)
    {
        Relative = relative;
        Skip = TestPaths.MissingReason(relative);
    }

    /// <summary>The shared paths the test needs.</summary>
    public IReadOnlyList<string> Relative { get; }
}

/// <summary>A theory that is skipped, with the reason, when any of the shared files or folders it needs is absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    /// <summary>Needs <paramref name="relative"/> under the shared folder (see <see cref="TestPaths.MissingReason"/>).</summary>
    /// <param name="relative">Paths relative to the shared folder, with '/' between segments.</param>
    public SharedTheoryAttribute(params string[] relative)
    {
        Relative = relative;
        Skip = TestPaths.MissingReason(relative);
    }

    /// <summary>The shared paths the test needs.</summary>
    public IReadOnlyList<string> Relative { get; }
}
