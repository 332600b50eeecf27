using Microsoft.Extensions.Caching.Memory;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// Object records read recently, so a GET of a small object is a dictionary look-up instead of a SQLite query and a
/// JSON parse (which together were most of a 4 KiB GET's cost: docs/benchmarks.md, "A record cache for SQLite"). Coherent because every change to
/// a record goes through this process's writer, which calls <see cref="Invalidate"/> after each transaction and before
/// any caller of it is answered, and because the store holds its file for one process alone.
/// <para>
/// The race a read-through cache must close: a reader that took its snapshot before a commit must not put the old
/// record back after the writer removed it. Readers note <see cref="Version"/> before they query and offer their
/// result with it; the writer bumps the version after COMMIT and removes what it changed. An offer's check and store
/// and the writer's bump and removal exclude each other (one lock, taken once per cache miss and per write transaction):
/// an offer under an old version is refused, and one stored before the bump is removed with it. (Checking, storing and
/// checking again without the lock left a stale record visible to other readers for the moment between the store and
/// its taking back: the race test caught it under load.)
/// </para>
/// </summary>
internal sealed class SqliteRecordCache : IDisposable
{
    // What an entry costs beyond its inline bytes: the record, its strings and the cache's own entry, roughly.
    private const long EntryOverhead = 512;
    private const long SegmentOverhead = 256;

    private readonly MemoryCache? _cache;
    private readonly Lock _gate = new();
    private long _version;

    public SqliteRecordCache(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        _cache = capacityBytes == 0 ? null : new MemoryCache(new MemoryCacheOptions { SizeLimit = capacityBytes });
    }

    /// <summary>Moves on every write transaction that touched a record; read it before querying.</summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>A cached answer: the record, or null for a key known to be absent.</summary>
    public bool TryGet(string bucket, string key, out ObjectRecord? record)
    {
        if (_cache is not null && _cache.TryGetValue(new RecordKey(bucket, key), out var value))
        {
            record = value as ObjectRecord;
            return true;
        }

        record = null;
        return false;
    }

    /// <summary>Keeps what a query returned, unless a write transaction ended since <paramref name="versionBeforeRead"/>.</summary>
    public void Offer(string bucket, string key, ObjectRecord? record, long versionBeforeRead)
    {
        if (_cache is null)
        {
            return;
        }

        var options = new MemoryCacheEntryOptions { Size = SizeOf(bucket, key, record) };
        lock (_gate)
        {
            if (_version == versionBeforeRead)
            {
                _cache.Set(new RecordKey(bucket, key), (object?)record ?? Absent.Value, options);
            }
        }
    }

    /// <summary>After a write transaction, committed or not: forgets the records it touched.</summary>
    public void Invalidate(IReadOnlyCollection<(string Bucket, string Key)> changed)
    {
        // A transaction that touched no record (a lease, a usage counter) cannot make a cached one stale.
        if (_cache is null || changed.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            Volatile.Write(ref _version, _version + 1);
            foreach (var (bucket, key) in changed)
            {
                _cache.Remove(new RecordKey(bucket, key));
            }
        }
    }

    public void Dispose() => _cache?.Dispose();

    // The key's strings count twice (the cache key and the record), two bytes a character.
    private static long SizeOf(string bucket, string key, ObjectRecord? record) =>
        EntryOverhead + (4L * (bucket.Length + key.Length)) + (record is null ? 0 :
            (record.Inline?.Length ?? 0)
            + (record.Segments.Count * SegmentOverhead)
            + (8L * (record.PartSizes?.Count ?? 0))
            + (2L * (record.Attributes.UserMetadata?.Sum(m => m.Key.Length + m.Value.Length) ?? 0)));

    private sealed record RecordKey(string Bucket, string Key);

    /// <summary>What the cache holds for a key that has no record (GETs of missing objects are common: a build cache's misses).</summary>
    private sealed class Absent
    {
        public static readonly Absent Value = new();
    }
}
