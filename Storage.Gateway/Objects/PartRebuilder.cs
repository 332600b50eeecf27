using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Objects;

/// <summary>
/// Computes one part of a segment from its other parts, stripe by stripe, and writes it onto a node: how a write
/// replaces a part whose node failed mid-upload, how healing restores a part lost with a node, and how a node that
/// came back empty gets its parts again. The result is byte-for-byte the part the original write produced (same
/// data, same code, same checksums), so writing it twice, or onto a node that still has it, changes nothing.
/// </summary>
public sealed class PartRebuilder(NodeRegistry registry, ErasureCodecs codecs, StorageTelemetry telemetry, ILogger<PartRebuilder> logger)
{
    /// <exception cref="DataUnavailableException">Too few intact parts remain to compute it.</exception>
    /// <exception cref="NodeWriteException">The target node failed.</exception>
    public Task RebuildOntoAsync(Segment segment, int shard, string targetNode, CancellationToken cancellationToken)
    {
        var layout = StripeLayout.For(segment);
        return PartUpload.WriteAsync(Node(targetNode), PartKeys.For(segment.Id, shard), layout.PartLength, segment.BlockSize, Produce(segment, shard), logger, cancellationToken);
    }

    /// <summary>The blocks (with their checksums) of part <paramref name="shard"/>, computed without reading it.</summary>
    public Func<System.IO.Pipelines.PipeWriter, CancellationToken, Task> Produce(Segment segment, int shard) => async (writer, cancellationToken) =>
    {
        var layout = StripeLayout.For(segment);
        await using var fetcher = new StripeFetcher(segment, codecs.Get(segment.DataShards, segment.ParityShards), registry, telemetry, layout.StripeCount - 1);
        for (var stripe = 0L; stripe < layout.StripeCount; stripe++)
        {
            StripeLayout.WriteBlock(writer, (await fetcher.RebuildShardAsync(stripe, shard, cancellationToken)).Span);
            await writer.FlushAsync(cancellationToken);
        }
    };

    private IStorageNode Node(string id) =>
        registry.TryGet(id, out var status) ? status.Node : throw new InvalidOperationException($"Node '{id}' is not registered on this gateway.");
}
