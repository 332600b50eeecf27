using System.Threading.Channels;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Objects;

/// <summary>A part of a version (null: the null version) a read found missing or with a corrupt block, on a node that answered.</summary>
public sealed record DamagedPart(string Bucket, string Key, string? VersionId, string SegmentId, int Shard, string NodeId);

/// <summary>
/// Parts reads found damaged, for repair in the background (the read itself was served from parity). Bounded: when
/// repairs fall behind, further reports are dropped and counted, and the periodic scrub finds those parts instead.
/// </summary>
public sealed class DamagedParts(RepairSignal signal)
{
    private const int Capacity = 10_000;

    private readonly Channel<DamagedPart> _parts = Channel.CreateBounded<DamagedPart>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private long _dropped;

    public long Dropped => Interlocked.Read(ref _dropped);

    public ChannelReader<DamagedPart> Reader => _parts.Reader;

    public void Report(DamagedPart part)
    {
        if (!_parts.Writer.TryWrite(part))
        {
            Interlocked.Increment(ref _dropped);
            return;
        }

        signal.Raise();
    }
}
