using System.Net;

namespace Heed.Server;

/// <summary>How a Heed server starts: where it listens, which folders it reads and writes, and its limits.</summary>
public sealed record HeedServerOptions
{
    /// <summary>The address to bind; 127.0.0.1 unless the caller asks otherwise (and is warned).</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>The TCP port; 0 = any free port (the bound port is in <see cref="HeedServer.Url"/>).</summary>
    public int Port { get; init; } = 8471;

    /// <summary>The folder models are looked up in, by id; null = only the built-in models.</summary>
    public string? ModelsDirectory { get; init; }

    /// <summary>The folder the workspace is persisted to and reloaded from; null = kept in memory only.</summary>
    public string? WorkspaceDirectory { get; init; }

    /// <summary>The file holding the bearer token (created with mode 0600 on first start).</summary>
    public string TokenFile { get; init; } = ServerPaths.DefaultTokenFile();

    /// <summary>The bearer token to use instead of the one in <see cref="TokenFile"/> (tests).</summary>
    public string? Token { get; init; }

    /// <summary>Where the discovery file is written; null = not written.</summary>
    public string? DiscoveryFile { get; init; }

    /// <summary>Request and input limits.</summary>
    public ServerLimits Limits { get; init; } = new();
}

/// <summary>The limits a Heed server enforces on every request.</summary>
public sealed record ServerLimits
{
    /// <summary>The largest request body, in bytes (413 above it).</summary>
    public long MaxBodyBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>The longest sequence (T, S, tokens, rows of an explain input).</summary>
    public int MaxSequenceLength { get; init; } = 4096;

    /// <summary>The widest last axis (D, Dv, C, columns of a matrix).</summary>
    public int MaxWidth { get; init; } = 4096;

    /// <summary>The most elements one tensor may hold.</summary>
    public int MaxElements { get; init; } = 4 * 1024 * 1024;

    /// <summary>The most matrices the workspace holds.</summary>
    public int MaxMatrices { get; init; } = 256;

    /// <summary>The most runs kept at once.</summary>
    public int MaxRuns { get; init; } = 64;

    /// <summary>How long one request may take, waiting for a slot included, before it is answered 503.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many requests that neither compute nor only read (workspace edits and ranges, pictures, reports, creating a run)
    /// run at once. Cheap requests (health, descriptor, capabilities, models, OpenAPI, the page, run status and events, lists)
    /// are never limited.
    /// </summary>
    public int MaxConcurrentRequests { get; init; } = 32;

    /// <summary>How many of those requests wait for a slot before the next is answered 429.</summary>
    public int QueueLimit { get; init; } = 64;

    /// <summary>
    /// How many computations (attention, multi-head attention, explain, lookup, analyse, runs with wait, MCP calls) run at
    /// once: the cores, since each already uses every core and more would only hold more memory.
    /// </summary>
    public int MaxConcurrentComputations { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// How many computations wait for a slot before the next is answered 429. A wait counts against
    /// <see cref="RequestTimeout"/>: a computation still waiting when the time is up is answered 503.
    /// </summary>
    public int ComputationQueueLimit { get; init; } = 256;

    /// <summary>The most texts one embedding request may hold.</summary>
    public int MaxEmbedTexts { get; init; } = 256;

    /// <summary>The most tokens the texts of one embedding request may hold together, [CLS] and [SEP] included, after truncation to the model's length.</summary>
    public int MaxEmbedTokens { get; init; } = 32768;

    /// <summary>The most new tokens one generation may ask for.</summary>
    public int MaxGenerateTokens { get; init; } = 2048;

    /// <summary>The most trainings kept at once (running or finished, each with its model until it expires).</summary>
    public int MaxTrainings { get; init; } = 8;

    /// <summary>How long a finished run (its weights, pictures and report) is kept.</summary>
    public TimeSpan RunExpiry { get; init; } = TimeSpan.FromHours(1);
}
