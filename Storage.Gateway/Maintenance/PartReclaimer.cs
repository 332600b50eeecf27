using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// The sweeper: deletes the parts of reclaim entries that are due — replaced or deleted objects after their
/// grace period, and uploads that crashed before committing. An entry is removed only when every one of its
/// parts is gone, so a node that is down is simply retried on a later pass. Safe to run on several gateways.
/// </summary>
public sealed class PartReclaimer(
    IMetadataStore metadata,
    NodeRegistry registry,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<PartReclaimer> logger) : BackgroundService
{
    private const int BatchSize = 256;

    /// <summary>One pass over everything due; returns the number of entries fully reclaimed.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var reclaimed = 0;
        while (true)
        {
            var due = await metadata.GetDueReclaimsAsync(time.GetUtcNow(), BatchSize, cancellationToken);
            var completedInBatch = 0;
            foreach (var entry in due)
            {
                if (await DeletePartsAsync(entry, cancellationToken))
                {
                    await metadata.CompleteReclaimAsync(entry, cancellationToken);
                    completedInBatch++;
                }
            }

            reclaimed += completedInBatch;
            if (due.Count < BatchSize || completedInBatch == 0)
            {
                return reclaimed;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Maintenance.SweepInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            using var activity = StorageTelemetry.Source.StartActivity("maintenance PartReclaimer");
            try
            {
                var reclaimed = await SweepAsync(stoppingToken);
                if (reclaimed > 0)
                {
                    logger.LogInformation("Reclaimed the parts of {Count} replaced, deleted or abandoned segments", reclaimed);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Sweeping reclaimable parts failed; retrying next interval");
            }
        }
    }

    /// <summary>
    /// The parts of the entry's object that are in use again (a part moved away and back, or a failed write's part that
    /// healing put back, within the grace period): its current version's, and in a versioned bucket every version's.
    /// </summary>
    private async Task<HashSet<PartLocation>> LivePartsAsync(ReclaimEntry entry, CancellationToken cancellationToken)
    {
        if (entry is not { Bucket: { } bucket, Key: { } key })
        {
            return [];
        }

        if ((await metadata.GetBucketAsync(bucket, cancellationToken))?.Versioning is null or BucketVersioning.Unversioned)
        {
            return await metadata.GetObjectAsync(bucket, key, cancellationToken) is { } owner ? owner.Segments.Parts().ToHashSet() : [];
        }

        var live = new HashSet<PartLocation>();
        await foreach (var version in metadata.VersionsOfKeyAsync(bucket, key, cancellationToken))
        {
            live.UnionWith(version.Segments.Parts());
        }

        return live;
    }

    private async Task<bool> DeletePartsAsync(ReclaimEntry entry, CancellationToken cancellationToken)
    {
        var complete = true;
        var live = await LivePartsAsync(entry, cancellationToken);
        foreach (var part in entry.Parts.Where(p => !live.Contains(p)))
        {
            var (nodeId, partKey, _) = part;
            if (!registry.TryGet(nodeId, out var status) || status.State == NodeState.Down)
            {
                complete = false;
                continue;
            }

            try
            {
                await status.Node.DeleteAsync(partKey, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException)
            {
                logger.LogDebug(ex, "Could not delete {Key} on {Node}", partKey, nodeId);
                complete = false;
            }
        }

        return complete;
    }
}
