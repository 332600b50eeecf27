using System.IO.Pipelines;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Puts one part of a segment on another node: either rebuilt from the segment's other parts (healing; works
/// whatever happened to the original) or copied from the original with every block's CRC checked on the way
/// (rebalancing). Only when the new copy is durable does the metadata switch — a compare-and-swap that fails if
/// the object changed meanwhile, in which case the copy is deleted. The original is reclaimed after the grace
/// period, so readers holding the old record never find a part missing.
/// </summary>
public sealed class PartRepairer(
    IMetadataStore metadata,
    NodeRegistry registry,
    PartRebuilder rebuilder,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<PartRepairer> logger)
{
    /// <summary>Rebuilds part <paramref name="shard"/> onto <paramref name="targetNode"/>; false if the object changed meanwhile.</summary>
    public Task<bool> RebuildAsync(ObjectRecord record, Segment segment, int shard, string targetNode, CancellationToken cancellationToken) =>
        InstallAsync(record, segment, shard, targetNode, rebuilder.Produce(segment, shard), cancellationToken);

    /// <summary>
    /// Rebuilds a part its node should hold (missing, short or corrupt there) onto that node, under its own key: the
    /// same bytes the original write produced, so no metadata changes. If the object no longer uses the segment
    /// afterwards (overwritten or deleted meanwhile), the copy is removed again. False when it could not be rebuilt.
    /// </summary>
    public async Task<bool> RestoreAsync(ObjectRecord record, Segment segment, int shard, CancellationToken cancellationToken)
    {
        var node = segment.Nodes[shard];
        try
        {
            await rebuilder.RebuildOntoAsync(segment, shard, node, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Could not restore part {Shard} of {Bucket}/{Key} on node {Node}: {Reason}", shard, record.Bucket, record.Key, node, ex.Message);
            return false;
        }

        var current = await metadata.GetObjectVersionAsync(record.Bucket, record.Key, record.VersionId, cancellationToken);
        if (current?.Segments.Any(s => s.Id == segment.Id) != true)
        {
            await PartUpload.DeleteQuietlyAsync(Node(node), PartKeys.For(segment.Id, shard), logger);
        }

        return true;
    }

    /// <summary>Copies part <paramref name="shard"/> to <paramref name="targetNode"/>, checking each block; false if the object changed meanwhile.</summary>
    /// <exception cref="InvalidDataException">A block of the original is corrupt (healing should rebuild it instead).</exception>
    public Task<bool> CopyAsync(ObjectRecord record, Segment segment, int shard, string targetNode, CancellationToken cancellationToken) =>
        InstallAsync(record, segment, shard, targetNode, async (writer, ct) =>
        {
            var layout = StripeLayout.For(segment);
            var source = Node(segment.Nodes[shard]);
            await using var part = await source.OpenReadAsync(PartKeys.For(segment.Id, shard), 0, layout.PartLength, ct);
            var buffer = new byte[segment.BlockSize + StripeLayout.ChecksumBytes];
            for (var stripe = 0L; stripe < layout.StripeCount; stripe++)
            {
                var block = layout.BlockLength(stripe);
                var raw = buffer.AsMemory(0, block + StripeLayout.ChecksumBytes);
                await part.ReadExactlyAsync(raw, ct);
                if (!StripeLayout.IsIntact(raw.Span, block))
                {
                    throw new InvalidDataException($"Block {stripe} of part {shard} of segment {segment.Id} on node '{source.Id}' is corrupt.");
                }

                await writer.WriteAsync(raw, ct);
            }
        }, cancellationToken);

    private async Task<bool> InstallAsync(ObjectRecord record, Segment segment, int shard, string targetNode, Func<PipeWriter, CancellationToken, Task> produce, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("part.repair");
        activity?.SetTag("storage.segment.id", segment.Id);
        activity?.SetTag("storage.node.id", targetNode);
        var target = Node(targetNode);
        var key = PartKeys.For(segment.Id, shard);
        await PartUpload.WriteAsync(target, key, StripeLayout.For(segment).PartLength, segment.BlockSize, produce, logger, cancellationToken);

        var move = new PartMove(record.Bucket, record.Key, segment.Id, shard, segment.Nodes[shard], targetNode, record.VersionId);
        if (await metadata.ReplacePartAsync(move, time.GetUtcNow() + options.Value.Maintenance.ReclaimDelay, cancellationToken))
        {
            return true;
        }

        // A part's key is fixed by its segment and shard, so another pass that repaired the same part onto the same node
        // (two replicas when a lease lapsed during a Redis outage) wrote this very file and switched metadata to it:
        // deleting "our" copy would delete theirs, leaving metadata naming a part the node no longer holds.
        var current = await metadata.GetObjectVersionAsync(record.Bucket, record.Key, record.VersionId, cancellationToken);
        if (current?.Segments.FirstOrDefault(s => s.Id == segment.Id) is { } now && now.Nodes[shard] == targetNode)
        {
            logger.LogDebug("Part {Shard} of {Bucket}/{Key} was installed on {Node} by another pass meanwhile; keeping it", shard, record.Bucket, record.Key, targetNode);
            return false;
        }

        logger.LogDebug("Object {Bucket}/{Key} changed while its part {Shard} was repaired; discarding the copy", record.Bucket, record.Key, shard);
        await PartUpload.DeleteQuietlyAsync(target, key, logger);
        return false;
    }

    private IStorageNode Node(string id) =>
        registry.TryGet(id, out var status) ? status.Node : throw new InvalidOperationException($"Node '{id}' is not registered on this gateway.");
}
