using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Repairs, in the background, the parts reads found missing, short or corrupt on nodes that answered: each is
/// rebuilt from the segment's other parts onto its own node (see <see cref="PartRepairer.RestoreAsync"/>), if the
/// version read (current or not) still has it there. Runs on every gateway without a lease: a restored part is byte-for-byte the original,
/// so two gateways restoring the same part write the same bytes.
/// </summary>
public sealed class DamagedPartRepairer(
    DamagedParts damaged,
    IMetadataStore metadata,
    NodeRegistry registry,
    PartRepairer repairer,
    TimeProvider time,
    ILogger<DamagedPartRepairer> logger) : BackgroundService
{
    /// <summary>Many reads of one object report the same part; it is restored once in this window.</summary>
    private static readonly TimeSpan RecentWindow = TimeSpan.FromMinutes(1);

    private readonly Dictionary<(string Segment, int Shard), DateTimeOffset> _recent = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var part in damaged.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await RepairAsync(part, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Could not repair part {Shard} of {Bucket}/{Key} on {Node}: {Reason}", part.Shard, part.Bucket, part.Key, part.NodeId, ex.Message);
            }
        }
    }

    private async Task RepairAsync(DamagedPart part, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var stale in _recent.Where(r => now - r.Value > RecentWindow).Select(r => r.Key).ToArray())
        {
            _recent.Remove(stale);
        }

        if (!_recent.TryAdd((part.SegmentId, part.Shard), now)
            || !registry.TryGet(part.NodeId, out var status) || status.State != NodeState.Up
            || await metadata.GetObjectVersionAsync(part.Bucket, part.Key, part.VersionId, cancellationToken) is not { } record
            || record.Segments.FirstOrDefault(s => s.Id == part.SegmentId) is not { } segment
            || segment.Nodes[part.Shard] != part.NodeId)
        {
            return;
        }

        if (await repairer.RestoreAsync(record, segment, part.Shard, cancellationToken))
        {
            logger.LogInformation("Restored part {Shard} of {Bucket}/{Key} on node {Node}, which a read found damaged", part.Shard, part.Bucket, part.Key, part.NodeId);
        }
    }
}
