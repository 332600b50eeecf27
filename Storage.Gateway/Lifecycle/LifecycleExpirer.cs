using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Maintenance;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Multipart;

namespace Storage.Gateway.Lifecycle;

/// <summary>What one pass of the expirer did.</summary>
public sealed record LifecyclePass(int Buckets, long Scanned, long Expired, int UploadsAborted);

/// <summary>
/// Runs the buckets' lifecycle rules: expires the current versions they select once due, removes the noncurrent versions
/// and lone delete markers they select, and aborts the multipart uploads they select. One gateway at a time works on a bucket (a maintenance lease per bucket), at a bounded rate, in key order
/// from where the last pass stopped: the position is a bucket document written after every page, so a crash or a lost
/// lease costs at most one page of re-reading, never the bucket's whole scan. Each delete names the exact version it
/// judged (<see cref="WriteCondition.CurrentVersion"/>), so a version written meanwhile is never removed by a decision
/// about its predecessor.
/// </summary>
public sealed class LifecycleExpirer(
    IMetadataStore metadata,
    ObjectStore store,
    MultipartUploads uploads,
    BucketLifecycles lifecycles,
    GatewayInstance instance,
    StorageTelemetry telemetry,
    IOptions<LifecycleOptions> options,
    IOptions<StorageOptions> storage,
    TimeProvider time,
    ILogger<LifecycleExpirer> logger)
    : MaintenanceLoop(options.Value.Interval, time, logger)
{
    private const int PageSize = 1000;

    private const int ConcurrentDeletes = 16;

    private readonly Lock _pace = new();

    // When the next delete may start: deletes are spaced by the rate limit across every bucket this gateway works on.
    private DateTimeOffset _nextExpiration = DateTimeOffset.MinValue;

    public static string LeaseName(string bucket) => $"lifecycle:{bucket}";

    public async Task<LifecyclePass> RunAsync(CancellationToken cancellationToken)
    {
        var pass = new LifecyclePass(0, 0, 0, 0);
        foreach (var bucket in await metadata.ListBucketsAsync(cancellationToken))
        {
            // Hidden companions (multipart staging) are handled through their bucket's rules.
            if (bucket.Name.StartsWith('.') || await lifecycles.GetAsync(bucket.Name, cancellationToken) is not { } rules || !rules.Rules.Any(r => r.Enabled))
            {
                continue;
            }

            await using var lease = await MaintenanceLease.TryAcquireAsync(
                metadata, LeaseName(bucket.Name), instance.Id, storage.Value.Maintenance.LeaseDuration, Time, logger, cancellationToken);
            if (lease is null)
            {
                continue;
            }

            LifecyclePass done;
            try
            {
                done = await RunAsync(bucket.Name, rules, lease.Lost);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // One bucket's trouble (its lease lost, metadata failing for it) does not hold up the others.
                logger.LogWarning(ex, "Lifecycle pass over {Bucket} stopped; it resumes from its position next interval", bucket.Name);
                continue;
            }

            if (done.Expired > 0 || done.UploadsAborted > 0)
            {
                logger.LogInformation("Lifecycle rules of {Bucket}: expired {Expired} of {Scanned} objects, aborted {Aborted} multipart uploads",
                    bucket.Name, done.Expired, done.Scanned, done.UploadsAborted);
            }

            pass = new LifecyclePass(pass.Buckets + 1, pass.Scanned + done.Scanned, pass.Expired + done.Expired, pass.UploadsAborted + done.UploadsAborted);
        }

        return pass;
    }

    protected override Task RunScheduledPassAsync(CancellationToken cancellationToken) => RunAsync(cancellationToken);

    private async Task<LifecyclePass> RunAsync(string bucket, LifecycleConfiguration rules, CancellationToken cancellationToken)
    {
        var day = options.Value.DayLength;
        var now = Time.GetUtcNow();
        var (scanned, expired) = (0L, 0L);

        // The stored position is the last key whose every version was judged: a page may end within a key's versions,
        // which this pass continues from memory, but a pass resumed after a crash judges that key from its start.
        var position = await metadata.GetBucketDocumentAsync(bucket, BucketLifecycles.PositionDocument, cancellationToken);
        var cursor = position is null ? null : new VersionCursor(position, AfterAllVersions: true);
        var walk = new VersionWalk(rules, day, now);
        while (rules.ActsOnVersions)
        {
            var page = await metadata.ListObjectVersionsAsync(bucket, string.Empty, cursor, PageSize, cancellationToken);
            scanned += page.Count;
            var judged = rules;
            var due = page.SelectMany(walk.Judge).ToList();
            if (page.Count < PageSize)
            {
                due.AddRange(walk.End());
            }

            // Deletes are independent metadata commits: several in flight share the store's group commits.
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = ConcurrentDeletes, CancellationToken = cancellationToken }, async (action, ct) =>
            {
                if (await ApplyAsync(action, judged, now, ct))
                {
                    Interlocked.Increment(ref expired);
                }
            });
            telemetry.LifecycleScanned.Add(page.Count);
            if (page.Count < PageSize)
            {
                break;
            }

            var last = page[^1].Record;
            cursor = new VersionCursor(last.Key, AfterAllVersions: false, last.VersionId);
            if (page.LastOrDefault(v => v.Record.Key != last.Key)?.Record.Key is { } completed)
            {
                await metadata.SetBucketDocumentAsync(bucket, BucketLifecycles.PositionDocument, completed, cancellationToken);
            }

            // A long scan follows the rules as they are now: a rule removed or narrowed meanwhile deletes no more.
            if (await lifecycles.GetAsync(bucket, cancellationToken) is not { } current)
            {
                break;
            }

            rules = current;
            walk.Follow(rules);
        }

        await metadata.SetBucketDocumentAsync(bucket, BucketLifecycles.PositionDocument, null, cancellationToken);
        var aborted = 0;
        foreach (var rule in rules.Rules.Where(r => r.Enabled))
        {
            if (rule.AbortCutoff(now, day) is { } cutoff)
            {
                aborted += await uploads.AbortBeforeAsync(bucket, rule.Filter.Prefix, cutoff, cancellationToken);
            }
        }

        telemetry.LifecycleUploadsAborted.Add(aborted);
        return new LifecyclePass(1, scanned, expired, aborted);
    }

    /// <summary>
    /// Applies the action if, with the version read again once its turn under the rate limit comes, the rules still call
    /// for it (a retag or rewrite since the listing is seen): a current version is deleted as that exact version (in a
    /// versioned bucket a delete marker hides it); a noncurrent version, or a delete marker left alone, is removed by its id.
    /// </summary>
    private async Task<bool> ApplyAsync(LifecycleAction action, LifecycleConfiguration rules, DateTimeOffset judgedAt, CancellationToken cancellationToken)
    {
        TimeSpan wait;
        lock (_pace)
        {
            var now = Time.GetUtcNow();
            var slot = _nextExpiration > now ? _nextExpiration : now;
            _nextExpiration = slot + TimeSpan.FromSeconds(1.0 / options.Value.MaxExpirationsPerSecond);
            wait = slot - now;
        }

        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Time, cancellationToken);
        }

        var listed = action.Version;
        if (action.Kind != LifecycleActionKind.Expire)
        {
            return await RemoveVersionAsync(listed, action.Kind, rules, cancellationToken);
        }

        var version = await metadata.GetObjectAsync(listed.Bucket, listed.Key, cancellationToken);
        if (version is null || rules.ExpiryOf(version, options.Value.DayLength) is not { } expiry || expiry.At > judgedAt)
        {
            return false;
        }

        try
        {
            if (await store.DeleteAsync(version.Bucket, version.Key, WriteCondition.CurrentVersion(version), cancellationToken))
            {
                telemetry.LifecycleExpired.Add(1, new KeyValuePair<string, object?>("storage.lifecycle.action", "expiration"));
                return true;
            }
        }
        catch (WriteConditionFailedException)
        {
            // Overwritten or deleted since it was listed: the new version is judged on the next pass.
        }

        return false;
    }

    /// <summary>
    /// Removes a noncurrent version that is still selected (its tags read again), or a delete marker that is still its
    /// key's only version. Versions never change but for their tags, so the id names exactly what was judged; and the
    /// removal is refused atomically if the version became current meanwhile (a client removed its successor).
    /// </summary>
    private async Task<bool> RemoveVersionAsync(ObjectRecord listed, LifecycleActionKind kind, LifecycleConfiguration rules, CancellationToken cancellationToken)
    {
        if (kind == LifecycleActionKind.RemoveLoneMarker)
        {
            var versions = await metadata.VersionsOfKeyAsync(listed.Bucket, listed.Key, cancellationToken).Take(2).ToListAsync(cancellationToken);
            if (versions is not [{ IsDeleteMarker: true } alone] || alone.VersionId != listed.VersionId)
            {
                return false;
            }
        }
        else if (await metadata.GetObjectVersionAsync(listed.Bucket, listed.Key, listed.VersionId, cancellationToken) is not { } version
            || (!version.IsDeleteMarker && !rules.Rules.Any(r => r.Enabled && r.NoncurrentDays is not null && r.Filter.Selects(version))))
        {
            return false;
        }

        if (await store.DeleteVersionAsync(listed.Bucket, listed.Key, listed.VersionId, cancellationToken, onlyIfNoncurrent: true) is null)
        {
            return false;
        }

        telemetry.LifecycleExpired.Add(1, new KeyValuePair<string, object?>("storage.lifecycle.action", listed.IsDeleteMarker ? "expired_delete_marker" : "noncurrent_expiration"));
        return true;
    }
}
