using System.Diagnostics;
using System.Numerics;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;

namespace Heed.Server;

/// <summary>How much a request costs the server, which decides the queue it waits in.</summary>
internal enum RequestClass
{
    /// <summary>Answered from memory in microseconds (health, descriptor, capabilities, models, OpenAPI, the page, run status and events, lists): never queued.</summary>
    Cheap,

    /// <summary>Computes with the kernels (attention, multi-head attention, explain, lookup, analyse, embed, generate, runs with wait, the MCP tools that compute): one queue sized to the cores.</summary>
    Computation,

    /// <summary>Everything else (workspace edits and ranges, pictures, reports, creating a run): the general limit.</summary>
    Request,
}

/// <summary>
/// Admission control: cheap requests go straight through, so a burst of computations never makes health or the model list
/// wait or fail; computations take one of <see cref="ServerLimits.MaxConcurrentComputations"/> slots (the cores: more would
/// only share the same cores and hold more memory at once) and wait in their own queue; other requests keep the general
/// limit. A full queue is 429. A wait counts against <see cref="ServerLimits.RequestTimeout"/>: a request still queued when
/// its time is up is answered 503 at once, never run late.
/// </summary>
internal sealed class Admission : IDisposable
{
    private readonly ServerLimits _limits;
    private readonly ConcurrencyLimiter _computations;
    private readonly ConcurrencyLimiter _requests;
    private readonly Timer _trim;
    private long _admitted;
    private long _lastSeen = -1;
    private int _idleTicks;

    public Admission(ServerLimits limits)
    {
        _limits = limits;
        _trim = new Timer(_ => TrimWhenIdle(), null, TrimInterval, TrimInterval);
        _computations = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = limits.MaxConcurrentComputations,
            QueueLimit = limits.ComputationQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
        _requests = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = limits.MaxConcurrentRequests,
            QueueLimit = limits.QueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>When the request arrived (a <see cref="Stopwatch"/> timestamp), for time limits that count the wait.</summary>
    public static long Started(HttpContext context) =>
        context.Features.Get<ArrivalFeature>()?.Timestamp ?? Stopwatch.GetTimestamp();

    /// <summary>The middleware: stamps the arrival, then admits the request by its class.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        context.Features.Set(new ArrivalFeature(Stopwatch.GetTimestamp()));
        RequestClass kind = Classify(context.Request);
        if (kind == RequestClass.Cheap)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        using RateLimitLease? lease = await EnterAsync(context, kind).ConfigureAwait(false);
        if (lease is not null)
        {
            await next(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes a computation slot inside an endpoint whose class depends on its body (a run with <c>wait</c>); null when the
    /// queue was full and a 429 has been written.
    /// </summary>
    /// <exception cref="RequestTimedOutException">The request's time ran out while it waited.</exception>
    public Task<RateLimitLease?> EnterComputationAsync(HttpContext context) => EnterAsync(context, RequestClass.Computation);

    /// <summary>Which queue a request waits in, from its method and path.</summary>
    public static RequestClass Classify(HttpRequest request)
    {
        PathString path = request.Path;
        if (HttpMethods.IsPost(request.Method))
        {
            // An MCP POST is an ordinary request: its tool calls that compute take a computation slot themselves (HeedTool),
            // so listing tools, reading resources and polling runs never wait behind computations.
            return path.Equals("/api/v1/attention") || path.Equals("/api/v1/multi-head-attention")
                || path.Equals("/api/v1/explain") || path.Equals("/api/v1/lookup") || path.Equals("/api/v1/workspace/analyse")
                || path.Equals("/api/v1/embed") || path.Equals("/api/v1/generate")
                ? RequestClass.Computation
                : RequestClass.Request;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            return RequestClass.Request;
        }

        // GET: everything is a lookup in memory but a matrix range, a picture and a report (drawn or serialized per call).
        // The MCP stream and run events only wait for messages.
        if (path.StartsWithSegments("/api/v1/workspace/matrices", out PathString rest) && rest.HasValue && rest != "/")
        {
            return RequestClass.Request;
        }

        if (path.StartsWithSegments("/api/v1/trainings", out PathString training) && training.HasValue)
        {
            string[] segments = training.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
            return segments.Length == 1 || (segments.Length == 2 && segments[1] == "events") ? RequestClass.Cheap : RequestClass.Request;
        }

        if (path.StartsWithSegments("/api/v1/runs", out PathString run) && run.HasValue)
        {
            string[] segments = run.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
            return segments.Length == 1 || (segments.Length == 2 && segments[1] == "events") ? RequestClass.Cheap : RequestClass.Request;
        }

        return RequestClass.Cheap;
    }

    /// <summary>How often the server looks whether a burst has ended (then hands its memory back).</summary>
    private static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(5);

    public void Dispose()
    {
        _trim.Dispose();
        _computations.Dispose();
        _requests.Dispose();
    }

    private async Task<RateLimitLease?> EnterAsync(HttpContext context, RequestClass kind)
    {
        RateLimitLease? lease = await AcquireAsync(kind, Started(context), () => TimedOut(context), context.RequestAborted).ConfigureAwait(false);
        if (lease is not null)
        {
            return lease;
        }

        context.Response.Headers.RetryAfter = "1";
        await Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests", Busy(kind)).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Takes a computation slot for an MCP tool call (the POST that carries it was admitted as an ordinary request, so listing
    /// tools or reading a run never waits behind computations); null when the queue is full, with <see cref="Busy"/> saying why.
    /// </summary>
    /// <param name="started">When the call arrived (a <see cref="Stopwatch"/> timestamp): the wait counts against the time limit.</param>
    /// <param name="aborted">The call's cancellation (the client went away or cancelled).</param>
    /// <exception cref="RequestTimedOutException">The time limit ran out while the call waited.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="aborted"/> fired while the call waited.</exception>
    public Task<RateLimitLease?> EnterComputationAsync(long started, CancellationToken aborted) =>
        AcquireAsync(RequestClass.Computation, started, () => !aborted.IsCancellationRequested, aborted);

    /// <summary>Why a request of this class was refused with a full queue (one line).</summary>
    public string Busy(RequestClass kind) => kind == RequestClass.Computation
        ? $"{_limits.MaxConcurrentComputations} computations are running and {_limits.ComputationQueueLimit} waiting, the server's limits; retry after a second"
        : $"{_limits.MaxConcurrentRequests} requests are running and {_limits.QueueLimit} waiting, the server's limits; retry after a second";

    // A slot of the class's limiter, waiting at most what is left of the time limit; null when the queue is full.
    private async Task<RateLimitLease?> AcquireAsync(RequestClass kind, long started, Func<bool> timedOut, CancellationToken aborted)
    {
        ConcurrencyLimiter limiter = kind == RequestClass.Computation ? _computations : _requests;
        RateLimitLease lease = limiter.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            TimeSpan left = _limits.RequestTimeout - Stopwatch.GetElapsedTime(started);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            deadline.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            try
            {
                lease = await limiter.AcquireAsync(1, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timedOut())
            {
                throw new RequestTimedOutException(_limits.RequestTimeout);
            }
        }

        if (lease.IsAcquired)
        {
            Interlocked.Increment(ref _admitted);
            return lease;
        }

        lease.Dispose();
        return null;
    }

    /// <summary>
    /// The wait ended by the time limit (ours, or the timeout middleware's timer that fires into the request's token), not by
    /// the client going away.
    /// </summary>
    private static bool TimedOut(HttpContext context) =>
        context.Features.Get<IHttpRequestTimeoutFeature>()?.RequestTimeoutToken.IsCancellationRequested == true
        || !context.RequestAborted.IsCancellationRequested;

    /// <summary>
    /// After computations, once none has run or waited for a whole interval, aggressive full collections hand the burst's
    /// memory back to the OS: at 1, 2, 4, 8 and 16 idle intervals (5 s each) after the last one. Without them an idle server
    /// kept what its peak took (1.3 GB after a burst, 268 MB before): the GC only runs when something allocates, and an idle
    /// server allocates nothing. One collection is not enough: the connections of the burst close later, and what they hold
    /// (and what finalizers release) only becomes garbage then; measured in docs/PERFORMANCE.md, "Server under load".
    /// </summary>
    private void TrimWhenIdle()
    {
        long admitted = Interlocked.Read(ref _admitted);
        RateLimiterStatistics? now = _computations.GetStatistics();
        if (now is null || now.CurrentAvailablePermits < _limits.MaxConcurrentComputations || now.CurrentQueuedCount > 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref _lastSeen, admitted) != admitted)
        {
            _idleTicks = 0; // something was admitted since the last tick: the burst may go on
            return;
        }

        if (admitted == 0 || _idleTicks > LastTrimTick)
        {
            return; // nothing computed yet, or this burst's memory has been handed back already
        }

        _idleTicks++;
        if (_idleTicks > LastTrimTick || !BitOperations.IsPow2(_idleTicks))
        {
            return;
        }

        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>The last idle tick that trims (16 ticks: 80 s after a burst).</summary>
    private const int LastTrimTick = 16;

    private sealed record ArrivalFeature(long Timestamp);
}
