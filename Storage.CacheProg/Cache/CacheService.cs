using System.Collections.Concurrent;
using System.Diagnostics;
using Storage.CacheProg.Protocol;

namespace Storage.CacheProg.Cache;

/// <summary>
/// The cache behind a protocol session: gets look locally first, then remotely (a remote hit is downloaded,
/// verified and kept locally); puts are answered once the body is named locally (made durable after the build, see
/// <see cref="LocalDurability"/>) and uploaded in the background:
/// by the worker's upload queue, or, in direct mode, listed for a worker to upload after the build (the spool).
/// A session whose first get misses locally starts a prefetch of what the newest build manifests name (<see cref="BuildManifest"/>),
/// and a session that looked past its local tier publishes its own once its uploads are up. One download per action
/// at a time: a get for an action being prefetched waits for that download. Remote trouble is a miss or a dropped
/// upload, never a failed build.
/// </summary>
public sealed class CacheService : ICacheBackend, IAsyncDisposable
{
    private readonly CacheProgOptions _options;
    private readonly RemoteTier? _remote;
    private readonly TextWriter _diagnostics;
    private readonly bool _spoolUploads;
    private readonly SemaphoreSlim _trimming = new(1, 1);

    /// <summary>Downloads at once while prefetching: enough to hide the remote's latency, few enough for two cores.</summary>
    private const int PrefetchConcurrency = 16;

    /// <summary>Manifests a prefetch reads (builds of other targets or flags name other actions), and manifests kept remotely.</summary>
    private const int ManifestsRead = 3;

    private const int ManifestsKept = 8;

    /// <summary>How long a worker's session waits for its uploads before it publishes its manifest anyway.</summary>
    private static readonly TimeSpan ManifestWait = TimeSpan.FromMinutes(10);

    // Downloads in flight by action id (hex), shared by gets and the prefetch.
    private readonly ConcurrentDictionary<string, Lazy<Task<LocalEntry?>>> _fetching = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<Task> _prefetches = [];

    // Prefetched entries not asked for yet: a get of one is a remote hit, which is where it came from. The count
    // keeps the local-hit path free of a look-up (and its hex string) when there are none.
    private readonly ConcurrentDictionary<string, bool> _prefetched = new(StringComparer.Ordinal);
    private int _prefetchedCount;

    // Direct mode: the ended session's manifest, for the spool.
    private IReadOnlyList<byte[]> _manifest = [];

    // Worker: created at once. Direct mode: only if it must upload its spool itself, so that a build start costs no
    // upload tasks.
    private UploadQueue? _uploads;
    private readonly Lock _uploadsGate = new();

    // Direct mode: the action ids put, for the spool.
    private readonly List<byte[]> _listed = [];
    private int _activeSessions;
    private long _lastActivity = Stopwatch.GetTimestamp();

    // One writer of the stats history at a time: the worker ends sessions concurrently.
    private readonly SemaphoreSlim _recording = new(1, 1);
    private int _remoteErrorsReported;

    /// <param name="options">Where the tiers are.</param>
    /// <param name="diagnostics">stderr: the user's terminal (stdout belongs to the protocol).</param>
    /// <param name="spoolUploads">Direct mode: puts are listed (<see cref="SpoolListed"/>) instead of queued for upload here.</param>
    public CacheService(CacheProgOptions options, TextWriter diagnostics, bool spoolUploads = false)
    {
        _options = options;
        _diagnostics = diagnostics;
        _spoolUploads = spoolUploads;
        Local = new LocalTier(options.CacheDirectory, options.MaxLocalBytes);
        if (Local.Durability.Repaired > 0)
        {
            diagnostics.WriteLine($"storage-cacheprog: a process using {Local.Root} ended before flushing it (a crash or power cut); removed {Local.Durability.Repaired} incomplete files, which are misses now.");
        }

        if (options.RemoteEnabled)
        {
            _remote = new RemoteTier(options);
            if (!spoolUploads && Uploading)
            {
                _uploads = new UploadQueue(_remote, options, Stats, diagnostics);
            }
        }
    }

    /// <summary>Whether puts go to the remote at all (one is configured, and writable).</summary>
    private bool Uploading => _remote is not null && !_options.ReadOnly;

    public CacheStats Stats { get; } = new();

    public LocalTier Local { get; }

    /// <summary>Uploads queued or in flight.</summary>
    public int PendingUploads => _uploads?.Pending ?? 0;

    /// <summary>Sessions open now.</summary>
    public int ActiveSessions => Volatile.Read(ref _activeSessions);

    /// <summary>How long since a session started or ended or spooled uploads were taken on.</summary>
    public TimeSpan IdleFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    public string NewTemporaryPath() => Local.NewTemporaryPath();

    public SessionCounters SessionStarted()
    {
        Interlocked.Increment(ref _activeSessions);
        Touch();
        _uploads?.SessionStarted();
        return new SessionCounters();
    }

    public Task CloseAsync(SessionCounters session, CancellationToken cancellationToken)
    {
        _uploads?.SessionEnded();
        if (Interlocked.Decrement(ref _activeSessions) == 0)
        {
            // No build left to ask for what was prefetched and not asked for.
            Volatile.Write(ref _prefetchedCount, 0);
            _prefetched.Clear();
        }

        Touch();
        var manifest = Uploading && session.LookedPastLocal ? session.AskedIds : [];
        if (_spoolUploads)
        {
            _manifest = manifest;
        }
        else
        {
            // The worker outlives sessions: each build is recorded for `stats`, and the local tier kept under its limit,
            // off the build's path. (Direct mode records its whole process at exit.)
            var record = new SessionRecord(DateTimeOffset.UtcNow, session.Gets, session.LocalHits, session.RemoteHits, session.Misses, session.Puts, session.UploadsQueued, session.Errors);
            _ = Task.Run(
                async () =>
                {
                    await RecordAsync(record);
                    await TrimAsync();
                    await FlushLocalAsync();

                    // After this session's uploads (queued ones wait for builds to end): a manifest names actions the next build can then find.
                    await session.UploadsDone.WaitAsync(ManifestWait, _lifetime.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    await PublishManifestAsync(manifest);

                    // Downloads the prefetch finished after the first flush.
                    await FlushLocalAsync();
                },
                CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task<CacheResponse> GetAsync(long id, byte[] actionId, SessionCounters session, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        if (Uploading)
        {
            session.Asked(actionId);
        }

        if (Local.Get(actionId) is { } local)
        {
            if (TakePrefetched(actionId))
            {
                Stats.PrefetchedHit();
                session.RemoteHit();
            }
            else
            {
                Stats.LocalHit(local.Entry.Size, Stopwatch.GetElapsedTime(started));
                session.LocalHit();
            }

            RefreshIfOld(actionId, local);
            return Hit(id, local);
        }

        if (_remote is not null)
        {
            // Only when the session's very first get misses: a tier that has this build's entries and misses a few
            // (an edited package) has nothing to gain from other builds' manifests.
            if (session.LocalMissed() && session.LocalHits == 0 && _options.Prefetch)
            {
                StartPrefetch();
            }

            try
            {
                if (await FetchOnceAsync(actionId, ahead: false, cancellationToken) is { } fetched)
                {
                    // Waited for a download the prefetch started: its bytes and time are the prefetch's.
                    if (TakePrefetched(actionId))
                    {
                        Stats.PrefetchedHit();
                    }
                    else
                    {
                        Stats.RemoteHit(fetched.Entry.Size, Stopwatch.GetElapsedTime(started));
                    }

                    session.RemoteHit();
                    RefreshIfOld(actionId, fetched);
                    return Hit(id, fetched);
                }
            }
            catch (RemoteUnavailableException ex)
            {
                Stats.Error("get");
                session.Error();
                if (Interlocked.Exchange(ref _remoteErrorsReported, 1) == 0)
                {
                    await _diagnostics.WriteLineAsync($"storage-cacheprog: the remote cache is unavailable ({ex.Message}); continuing with the local tier.");
                }
            }
        }

        Stats.Miss(Stopwatch.GetElapsedTime(started));
        session.Miss();
        return new CacheResponse(id, Miss: true);
    }

    public async Task<CacheResponse> PutAsync(long id, byte[] actionId, byte[] outputId, ReceivedBody body, SessionCounters session, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var entry = ActionEntry.Create(outputId, body.Size, DateTimeOffset.UtcNow);
        var path = await Local.PutAsync(actionId, entry, body.TemporaryPath, cancellationToken);

        // A cold build asks for fewer actions than it stores, and a warm one asks for what it stored: both go in the manifest.
        if (Uploading)
        {
            session.Asked(actionId);
        }

        Stats.Put(body.Size, Stopwatch.GetElapsedTime(started));
        var done = _uploads is null ? null : new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Put(uploadQueued: Offer(new UploadJob(actionId, entry, path, done)));
        if (done is not null)
        {
            session.Uploading(done.Task);
        }

        return new CacheResponse(id, OutputID: outputId, Size: entry.Size, Time: entry.Time, DiskPath: path);
    }

    /// <summary>
    /// A hit on an entry the remote last got longer than <see cref="CacheProgOptions.RefreshAfter"/> ago uploads it again
    /// (as a put would, off the build's path), so lifecycle rules that expire what was not written for longer never expire
    /// what builds use. At most once per period per entry and machine: the entry is marked written at once.
    /// </summary>
    private void RefreshIfOld(byte[] actionId, LocalEntry hit)
    {
        if (!Uploading || _options.RefreshAfter <= TimeSpan.Zero || DateTime.UtcNow - hit.WrittenUtc <= _options.RefreshAfter)
        {
            return;
        }

        Local.MarkWritten(actionId);
        Stats.Refreshed();
        Offer(new UploadJob(actionId, hit.Entry, hit.DiskPath));
    }

    /// <summary>Queues the upload (worker) or lists it for the spool (direct mode); false when there is nothing to upload to or the queue is full.</summary>
    private bool Offer(UploadJob job)
    {
        if (!_spoolUploads)
        {
            return _uploads?.Enqueue(job) == true;
        }

        if (!Uploading)
        {
            return false;
        }

        lock (_listed)
        {
            _listed.Add(job.ActionId);
        }

        return true;
    }

    /// <summary>Direct mode: writes the puts of this process to the spool (for workers, or as its own); null when there were none to upload.</summary>
    public SpooledUploads? SpoolListed(UploadSpool spool, bool forWorkers)
    {
        lock (_listed)
        {
            return _listed.Count == 0 && _manifest.Count == 0 ? null : spool.Write(UploadSpool.DestinationOf(_options), [.. _listed], _manifest, forWorkers);
        }
    }

    /// <summary>
    /// Uploads what a spool file lists (bodies and entries from the local tier; one whose body is gone is skipped), then
    /// deletes the file. True when every upload succeeded; the file stays otherwise, for the next worker to try again.
    /// </summary>
    public async Task<bool> UploadSpooledAsync(SpooledUploads spooled, CancellationToken cancellationToken)
    {
        Touch();
        var queue = UploadQueue();
        var uploads = new List<Task<bool>>(spooled.ActionIds.Count);
        foreach (var actionId in spooled.ActionIds)
        {
            if (Local.Get(actionId) is not { } local)
            {
                continue;
            }

            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            await queue.EnqueueAsync(new UploadJob(actionId, local.Entry, local.DiskPath, done), cancellationToken);
            uploads.Add(done.Task);
        }

        var succeeded = (await Task.WhenAll(uploads).WaitAsync(cancellationToken)).All(ok => ok);
        if (succeeded)
        {
            // After the uploads: a manifest names actions the next build can then find.
            await PublishManifestAsync(spooled.Manifest);
            File.Delete(spooled.Path);
        }

        Touch();
        return succeeded;
    }

    private UploadQueue UploadQueue()
    {
        lock (_uploadsGate)
        {
            return _uploads ??= new UploadQueue(_remote ?? throw new InvalidOperationException("No remote to upload to."), _options, Stats, _diagnostics);
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());

    private async Task RecordAsync(SessionRecord record)
    {
        await _recording.WaitAsync();
        try
        {
            StatsHistory.Append(_options.CacheDirectory, record);
        }
        finally
        {
            _recording.Release();
        }
    }

    /// <summary>Makes sure the remote bucket exists (best effort: a failure is reported and gets become misses).</summary>
    public async Task PrepareRemoteAsync(CancellationToken cancellationToken)
    {
        if (_remote is null || _options.ReadOnly)
        {
            return;
        }

        try
        {
            await _remote.EnsureBucketAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is Amazon.Runtime.AmazonServiceException or HttpRequestException or IOException or OperationCanceledException)
        {
            await _diagnostics.WriteLineAsync($"storage-cacheprog: could not prepare bucket {_options.Bucket} at {_options.Endpoint} ({ex.Message}); continuing, remote errors become misses.");
        }
    }

    /// <summary>Waits for queued uploads (the worker at shutdown, tests, benchmarks).</summary>
    public Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _uploads?.DrainAsync(timeout, cancellationToken) ?? Task.FromResult(true);

    public async ValueTask DisposeAsync()
    {
        await _lifetime.CancelAsync();
        Task[] prefetches;
        lock (_prefetches)
        {
            prefetches = [.. _prefetches];
        }

        await Task.WhenAll(prefetches);

        // Downloads the prefetch started go on under the lifetime token after the prefetch stops waiting for them.
        await ((Task)Task.WhenAll(_fetching.Values.Select(fetch => fetch.Value))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _trimming.WaitAsync();
        _trimming.Dispose();
        if (_uploads is not null)
        {
            await _uploads.DisposeAsync();
        }

        // The lifetime source is cancelled, not disposed: a session's background work after close (its manifest)
        // may still read its token, and a cancelled source holds nothing to release.
        _remote?.Dispose();
        await FlushLocalAsync();
        Local.Dispose();
    }

    /// <summary>Makes what was named locally durable (after builds, off their path); a failure leaves it to the next start's repair.</summary>
    private async Task FlushLocalAsync()
    {
        try
        {
            await Local.Durability.FlushAsync(CancellationToken.None);
        }
        catch (IOException ex)
        {
            await _diagnostics.WriteLineAsync($"storage-cacheprog: {ex.Message} The next start checks what it covers.");
        }
    }

    /// <summary>
    /// Downloads what the newest manifests name and the local tier lacks, <see cref="PrefetchConcurrency"/> at a time,
    /// in the order those builds asked. Stops at the first remote failure; never throws.
    /// </summary>
    private void StartPrefetch()
    {
        var prefetch = Task.Run(() => PrefetchAsync(_lifetime.Token), CancellationToken.None);
        lock (_prefetches)
        {
            _prefetches.RemoveAll(t => t.IsCompleted);
            _prefetches.Add(prefetch);
        }
    }

    private async Task PrefetchAsync(CancellationToken cancellationToken)
    {
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var wanted = new List<byte[]>();
            foreach (var manifest in await _remote!.RecentManifestsAsync(ManifestsRead, cancellationToken))
            {
                wanted.AddRange(manifest.Where(id => seen.Add(Convert.ToHexStringLower(id))));
            }

            await Parallel.ForEachAsync(wanted, new ParallelOptions { MaxDegreeOfParallelism = PrefetchConcurrency, CancellationToken = cancellationToken }, async (actionId, ct) =>
            {
                if (Local.Get(actionId) is null)
                {
                    await FetchOnceAsync(actionId, ahead: true, ct);
                }
            });
        }
        catch (Exception ex) when (ex is RemoteUnavailableException or OperationCanceledException or IOException or UnauthorizedAccessException)
        {
            // A prefetch is only a head start: what it did not fetch, gets fetch themselves.
        }
    }

    /// <summary>
    /// One download per action at a time: a get for an action being prefetched (or got) waits for that download. The
    /// first caller says whether it is <paramref name="ahead"/> of the go command (see <see cref="RemoteTier"/>).
    /// </summary>
    private async Task<LocalEntry?> FetchOnceAsync(byte[] actionId, bool ahead, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexStringLower(actionId);
        var fetch = _fetching.GetOrAdd(key, _ => new Lazy<Task<LocalEntry?>>(() => FetchAndForgetAsync(key, actionId, ahead)));
        return await fetch.Value.WaitAsync(cancellationToken);
    }

    private async Task<LocalEntry?> FetchAndForgetAsync(string key, byte[] actionId, bool ahead)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var fetched = await FetchAsync(actionId, ahead, _lifetime.Token);

            // Counted before any get waiting for it resumes, so that get finds it prefetched.
            if (ahead && fetched is not null && _prefetched.TryAdd(key, true))
            {
                Interlocked.Increment(ref _prefetchedCount);
                Stats.Prefetched(fetched.Entry.Size, Stopwatch.GetElapsedTime(started));
            }

            return fetched;
        }
        finally
        {
            _fetching.TryRemove(key, out _);
        }
    }

    /// <summary>Whether the entry came in by a prefetch and nobody asked for it yet (then it is now asked for).</summary>
    private bool TakePrefetched(byte[] actionId)
    {
        if (Volatile.Read(ref _prefetchedCount) == 0 || !_prefetched.TryRemove(Convert.ToHexStringLower(actionId), out _))
        {
            return false;
        }

        Interlocked.Decrement(ref _prefetchedCount);
        return true;
    }

    /// <summary>Publishes a session's manifest (best effort: without it the next build only starts slower).</summary>
    private async Task PublishManifestAsync(IReadOnlyList<byte[]> manifest)
    {
        if (manifest.Count == 0 || !Uploading)
        {
            return;
        }

        try
        {
            await _remote!.PublishManifestAsync(manifest, ManifestsKept, _lifetime.Token);
        }
        catch (Exception ex) when (ex is RemoteUnavailableException or OperationCanceledException or ObjectDisposedException)
        {
            Stats.Error("manifest");
        }
    }

    /// <summary>One least-recently-used trim at a time.</summary>
    public async Task TrimAsync()
    {
        if (!await _trimming.WaitAsync(0))
        {
            return;
        }

        try
        {
            Local.Trim();
        }
        catch (IOException ex)
        {
            await _diagnostics.WriteLineAsync($"storage-cacheprog: trimming the local tier failed ({ex.Message}); retrying after the next build.");
        }
        finally
        {
            _trimming.Release();
        }
    }

    private async Task<LocalEntry?> FetchAsync(byte[] actionId, bool ahead, CancellationToken cancellationToken)
    {
        if (await _remote!.GetActionAsync(actionId, ahead, cancellationToken) is not var (remote, written))
        {
            return null;
        }

        var entry = remote with { Body = null };
        if (!Local.HasBody(entry))
        {
            var temporary = Local.NewTemporaryPath();
            try
            {
                // An inline body that is not the OutputID's is ignored, and the -d object is fetched instead.
                var kept = remote.Body is { } inline && WriteInline(entry, inline, temporary);
                if (!kept && !await _remote.DownloadAsync(entry, temporary, ahead, cancellationToken))
                {
                    Stats.Error("verify");
                    await _diagnostics.WriteLineAsync($"storage-cacheprog: remote object {entry.OutputID}-d does not match its OutputID; refused.");
                    return null;
                }

                await Local.PutAsync(actionId, entry, temporary, cancellationToken);
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        else
        {
            await Local.WriteActionAsync(actionId, entry, cancellationToken);
        }

        // The entry file keeps the download's time (the local tier's crash repair goes by it): a remote hit on an old
        // entry refreshes it at once (RefreshIfOld sees the remote's time), and local hits count from the download.
        return new LocalEntry(entry, Local.BodyPath(entry.OutputID), written);
    }

    /// <summary>A body that came inline in its remote entry: kept only if it is the OutputID's, like a download.</summary>
    private static bool WriteInline(ActionEntry entry, byte[] body, string path)
    {
        if (!string.Equals(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)), entry.OutputID, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        File.WriteAllBytes(path, body);
        return true;
    }

    private static CacheResponse Hit(long id, LocalEntry hit) =>
        new(id, OutputID: Convert.FromHexString(hit.Entry.OutputID), Size: hit.Entry.Size, Time: hit.Entry.Time, DiskPath: hit.DiskPath);
}
