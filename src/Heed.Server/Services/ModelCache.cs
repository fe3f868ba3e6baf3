namespace Heed.Server.Services;

/// <summary>
/// Loaded models, kept by id: a model is loaded once and served from memory until one of its files changes (the key is
/// the id plus each file's path, size and last-write time) or it is pushed out by newer entries. Loads of the same id run
/// once even when requests ask at the same moment; a load that fails is not kept, so the next request tries again.
/// </summary>
public sealed class ModelCache
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private long _clock;
    private int _loads;

    /// <summary>Creates a cache holding at most <paramref name="capacity"/> models.</summary>
    public ModelCache(int capacity = 4)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
    }

    /// <summary>How many loads have run (a hit costs none).</summary>
    public int Loads => Volatile.Read(ref _loads);

    /// <summary>
    /// The model of <paramref name="id"/>: the kept one when <paramref name="files"/> are unchanged since it was loaded,
    /// else the result of <paramref name="load"/>.
    /// </summary>
    /// <exception cref="HeedException">The load failed.</exception>
    public T GetOrLoad<T>(string id, IReadOnlyList<string> files, Func<T> load)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(load);
        string stamp = Stamp(files);
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(id, out entry!) || entry.Stamp != stamp)
            {
                entry = new Entry(stamp, new Lazy<object>(() =>
                {
                    Interlocked.Increment(ref _loads);
                    return load();
                }, LazyThreadSafetyMode.ExecutionAndPublication));
                _entries[id] = entry;
                Evict();
            }

            entry.Used = ++_clock;
        }

        try
        {
            return entry.Model.Value as T ?? throw new InvalidOperationException($"model '{id}' is cached as {entry.Model.Value.GetType().Name}, not {typeof(T).Name}");
        }
        catch (Exception)
        {
            lock (_gate)
            {
                if (_entries.TryGetValue(id, out Entry? current) && ReferenceEquals(current, entry))
                {
                    _entries.Remove(id);
                }
            }

            throw;
        }
    }

    private void Evict()
    {
        while (_entries.Count > _capacity)
        {
            string oldest = _entries.MinBy(e => e.Value.Used).Key;
            _entries.Remove(oldest);
        }
    }

    // Path, size and last-write time of every file: a changed file means a new key.
    private static string Stamp(IReadOnlyList<string> files) => string.Join('\n', files.Select(f =>
    {
        var info = new FileInfo(f);
        return info.Exists ? $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}" : $"{info.FullName}|missing";
    }));

    private sealed class Entry(string stamp, Lazy<object> model)
    {
        public string Stamp { get; } = stamp;

        public Lazy<object> Model { get; } = model;

        public long Used { get; set; }
    }
}
