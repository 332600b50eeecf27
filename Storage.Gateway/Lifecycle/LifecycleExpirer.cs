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
/// Runs the buckets' lifecycle rules: expires the current versions they select once due and aborts the multipart uploads
/// they select. One gateway at a time works on a bucket (a maintenance lease per bucket), at a bounded rate, in key order
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
    /// <summary>The bucket document holding the last key the expirer finished, while a scan of the bucket is under way.</summary>
    public const string PositionDocument = "lifecycle.position";

    private const int PageSize = 1000;

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

            var done = await RunAsync(bucket.Name, rules, lease.Lost);
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
        var position = await metadata.GetBucketDocumentAsync(bucket, PositionDocument, cancellationToken);
        while (true)
        {
            var page = await metadata.ListObjectsAsync(bucket, string.Empty, position, PageSize, cancellationToken);
            foreach (var version in page)
            {
                scanned++;
                if (rules.ExpiryOf(version, day) is { } expiry && expiry.At <= now && await ExpireAsync(version, cancellationToken))
                {
                    expired++;
                }
            }

            telemetry.LifecycleScanned.Add(page.Count);
            if (page.Count < PageSize)
            {
                break;
            }

            position = page[^1].Key;
            await metadata.SetBucketDocumentAsync(bucket, PositionDocument, position, cancellationToken);
        }

        await metadata.SetBucketDocumentAsync(bucket, PositionDocument, null, cancellationToken);
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

    private async Task<bool> ExpireAsync(ObjectRecord version, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        if (_nextExpiration > now)
        {
            await Task.Delay(_nextExpiration - now, Time, cancellationToken);
        }

        _nextExpiration = (_nextExpiration > now ? _nextExpiration : now) + TimeSpan.FromSeconds(1.0 / options.Value.MaxExpirationsPerSecond);
        try
        {
            if (await store.DeleteAsync(version.Bucket, version.Key, WriteCondition.CurrentVersion(version), cancellationToken))
            {
                telemetry.LifecycleExpired.Add(1);
                return true;
            }
        }
        catch (WriteConditionFailedException)
        {
            // Overwritten or deleted since it was listed: the new version is judged on the next pass.
        }

        return false;
    }
}
