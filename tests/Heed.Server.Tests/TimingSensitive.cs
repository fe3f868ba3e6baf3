namespace Heed.Server.Tests;

/// <summary>
/// Tests whose outcome depends on a timer firing while a request computes (the request time limit, the concurrency limiter).
/// They run alone, after the others: beside the load test and the browser tests, the thread pool can be saturated for seconds,
/// the 20 ms time limit's timer callback then waits behind the work, and a request meant to time out finishes with 200.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Timing-sensitive, run alone";
}
