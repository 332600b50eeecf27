namespace Storage.CacheProg.Protocol;

/// <summary>
/// What one session (one go command) asked and got, for the stats history: the worker serves many sessions at once,
/// so its process-wide counters cannot say what one build did. Counted by the cache behind the session.
/// </summary>
public sealed class SessionCounters
{
    private long _gets;
    private long _localHits;
    private long _remoteHits;
    private long _misses;
    private long _puts;
    private long _uploadsQueued;
    private long _errors;

    /// <summary>A build asks for a few thousand actions; the list stops here, so a runaway session stays bounded.</summary>
    private const int MaxAsked = 200_000;

    private readonly List<byte[]> _asked = [];
    private readonly List<Task> _uploads = [];
    private int _lookedPastLocal;

    public void LocalHit()
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Increment(ref _localHits);
    }

    public void RemoteHit()
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Increment(ref _remoteHits);
    }

    public void Miss()
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Increment(ref _misses);
    }

    public void Put(bool uploadQueued)
    {
        Interlocked.Increment(ref _puts);
        if (uploadQueued)
        {
            Interlocked.Increment(ref _uploadsQueued);
        }
    }

    public void Error() => Interlocked.Increment(ref _errors);

    /// <summary>Notes the action id of a get or a put, in order, for the build's manifest.</summary>
    public void Asked(byte[] actionId)
    {
        lock (_asked)
        {
            if (_asked.Count < MaxAsked)
            {
                _asked.Add(actionId);
            }
        }
    }

    /// <summary>Notes an upload this session's put queued, so that its manifest waits for it.</summary>
    public void Uploading(Task upload)
    {
        lock (_uploads)
        {
            _uploads.Add(upload);
        }
    }

    /// <summary>Completes when every upload this session queued is done (succeeded or not).</summary>
    public Task UploadsDone
    {
        get
        {
            lock (_uploads)
            {
                return Task.WhenAll(_uploads);
            }
        }
    }

    /// <summary>Notes that a get found no local entry; true the first time in this session.</summary>
    public bool LocalMissed() => Interlocked.Exchange(ref _lookedPastLocal, 1) == 0;

    /// <summary>Whether any get of this session had to look past the local tier.</summary>
    public bool LookedPastLocal => Volatile.Read(ref _lookedPastLocal) == 1;

    /// <summary>The action ids asked for or stored so far, each once, in the order first seen.</summary>
    public IReadOnlyList<byte[]> AskedIds
    {
        get
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            lock (_asked)
            {
                return [.. _asked.Where(id => seen.Add(Convert.ToHexStringLower(id)))];
            }
        }
    }

    public long Gets => Interlocked.Read(ref _gets);

    public long LocalHits => Interlocked.Read(ref _localHits);

    public long RemoteHits => Interlocked.Read(ref _remoteHits);

    public long Misses => Interlocked.Read(ref _misses);

    public long Puts => Interlocked.Read(ref _puts);

    /// <summary>Uploads the session's puts queued (a worker sends them after the build).</summary>
    public long UploadsQueued => Interlocked.Read(ref _uploadsQueued);

    public long Errors => Interlocked.Read(ref _errors);
}
