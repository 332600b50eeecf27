using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Storage.CacheProg.Cache;

/// <summary>
/// Counters of one process (direct mode) or one worker: gets, hits by tier, misses, puts, uploads, errors, bytes
/// and time per tier. Also published as metrics (meter <c>Storage.CacheProg</c>) for the dashboard.
/// </summary>
public sealed class CacheStats
{
    public const string MeterName = "Storage.CacheProg";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Requests = Meter.CreateCounter<long>("cacheprog.requests", description: "Requests by command and outcome");
    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>("cacheprog.bytes", "By", "Bytes moved, by tier and direction");
    private static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("cacheprog.latency", "ms", "Request latency by command and outcome");

    private readonly Stopwatch _uptime = Stopwatch.StartNew();

    public CacheStats() =>
        Meter.CreateObservableGauge("cacheprog.upload_queue", () => QueueDepth(), description: "Uploads queued or in flight");

    private long _gets;
    private long _localHits;
    private long _remoteHits;
    private long _misses;
    private long _puts;
    private long _uploads;
    private long _uploadsSkipped;
    private long _refreshed;
    private long _uploadsDropped;
    private long _errors;
    private long _prefetched;
    private long _localBytesRead;
    private long _localBytesWritten;
    private long _remoteBytesRead;
    private long _remoteBytesWritten;
    private long _remoteReadTicks;
    private long _remoteWriteTicks;

    public long Gets => Interlocked.Read(ref _gets);

    public long Hits => Interlocked.Read(ref _localHits) + Interlocked.Read(ref _remoteHits);

    public long RemoteHits => Interlocked.Read(ref _remoteHits);

    public long Uploads => Interlocked.Read(ref _uploads);

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Uploads waiting; set by the upload queue.</summary>
    public Func<int> QueueDepth { get; set; } = () => 0;

    public void LocalHit(long size, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _gets);
        Record(ref _localHits, "local_hit", elapsed, ref _localBytesRead, size, "local");
    }

    public void RemoteHit(long size, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _gets);
        Record(ref _remoteHits, "remote_hit", elapsed, ref _remoteBytesRead, size, "remote");
        Interlocked.Add(ref _remoteReadTicks, elapsed.Ticks);
    }

    public void Miss(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Increment(ref _misses);
        Requests.Add(1, new("command", "get"), new("outcome", "miss"));
        Latency.Record(elapsed.TotalMilliseconds, new("command", "get"), new("outcome", "miss"));
    }

    public void Put(long size, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _puts);
        Interlocked.Add(ref _localBytesWritten, size);
        Requests.Add(1, new("command", "put"), new("outcome", "stored"));
        Latency.Record(elapsed.TotalMilliseconds, new("command", "put"), new("outcome", "stored"));
        Bytes.Add(size, new("tier", "local"), new("direction", "write"));
    }

    public void Uploaded(long size, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _uploads);
        Interlocked.Add(ref _remoteBytesWritten, size);
        Interlocked.Add(ref _remoteWriteTicks, elapsed.Ticks);
        Requests.Add(1, new("command", "upload"), new("outcome", "stored"));
        Bytes.Add(size, new("tier", "remote"), new("direction", "write"));
    }

    /// <summary>An entry a prefetch downloaded: its bytes and time are the remote's, whether or not a get asks for it.</summary>
    public void Prefetched(long size, TimeSpan elapsed)
    {
        Interlocked.Increment(ref _prefetched);
        Interlocked.Add(ref _remoteBytesRead, size);
        Interlocked.Add(ref _remoteReadTicks, elapsed.Ticks);
        Bytes.Add(size, new("tier", "remote"), new("direction", "read"));
    }

    /// <summary>A get of a prefetched entry: a remote hit (that is where it came from), its bytes counted by the prefetch.</summary>
    public void PrefetchedHit()
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Increment(ref _remoteHits);
        Requests.Add(1, new("command", "get"), new("outcome", "remote_hit"));
    }

    public long PrefetchedCount => Interlocked.Read(ref _prefetched);

    public void UploadSkipped() => Interlocked.Increment(ref _uploadsSkipped);

    /// <summary>A hit's entry was old on the remote and is uploaded again (see <see cref="CacheProgOptions.RefreshAfter"/>).</summary>
    public void Refreshed() => Interlocked.Increment(ref _refreshed);

    public long Refreshes => Interlocked.Read(ref _refreshed);

    public void UploadDropped() => Interlocked.Increment(ref _uploadsDropped);

    public void Error(string command)
    {
        Interlocked.Increment(ref _errors);
        Requests.Add(1, new("command", command), new("outcome", "error"));
    }

    public string Summary()
    {
        static string Rate(long bytes, long ticks) =>
            ticks == 0 ? "-" : (bytes / TimeSpan.FromTicks(ticks).TotalSeconds / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB/s";

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"storage-cacheprog: {Gets} gets: {Interlocked.Read(ref _localHits)} local hits, {RemoteHits} remote hits, {Interlocked.Read(ref _misses)} misses, {PrefetchedCount} prefetched; ");
        text.Append(CultureInfo.InvariantCulture, $"{Interlocked.Read(ref _puts)} puts; {Uploads} uploads ({Interlocked.Read(ref _uploadsSkipped)} already remote, {Interlocked.Read(ref _uploadsDropped)} dropped, {Refreshes} refreshing old ones, {QueueDepth()} queued); {Errors} errors. ");
        text.Append(CultureInfo.InvariantCulture, $"Local: {Interlocked.Read(ref _localBytesRead) / 1e6:F1} MB read, {Interlocked.Read(ref _localBytesWritten) / 1e6:F1} MB written. ");
        text.Append(CultureInfo.InvariantCulture, $"Remote: {Interlocked.Read(ref _remoteBytesRead) / 1e6:F1} MB down at {Rate(Interlocked.Read(ref _remoteBytesRead), Interlocked.Read(ref _remoteReadTicks))}, ");
        text.Append(CultureInfo.InvariantCulture, $"{Interlocked.Read(ref _remoteBytesWritten) / 1e6:F1} MB up at {Rate(Interlocked.Read(ref _remoteBytesWritten), Interlocked.Read(ref _remoteWriteTicks))}; {_uptime.Elapsed.TotalSeconds:F1} s.");
        return text.ToString();
    }

    /// <summary>The session's counters for the stats history.</summary>
    public SessionRecord ToRecord() => new(DateTimeOffset.UtcNow, Gets, Interlocked.Read(ref _localHits), RemoteHits, Interlocked.Read(ref _misses), Interlocked.Read(ref _puts), Uploads, Errors);

    private static void Record(ref long counter, string outcome, TimeSpan elapsed, ref long bytes, long size, string tier)
    {
        Interlocked.Increment(ref counter);
        Interlocked.Add(ref bytes, size);
        Requests.Add(1, new("command", "get"), new("outcome", outcome));
        Latency.Record(elapsed.TotalMilliseconds, new("command", "get"), new("outcome", outcome));
        Bytes.Add(size, new("tier", tier), new("direction", "read"));
    }
}

/// <summary>One session's counters, kept in the local tier's history for <c>storage-cacheprog stats</c>.</summary>
public sealed record SessionRecord(DateTimeOffset Ended, long Gets, long LocalHits, long RemoteHits, long Misses, long Puts, long Uploads, long Errors);
