namespace Heed.Server.Tests;

/// <summary>
/// Tests that time requests against the server's limits (the request time limit, the concurrency limiter). They run alone,
/// after the others, so that no other test's load shares their process while they measure.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Timing-sensitive, run alone";
}
