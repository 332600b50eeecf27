using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Metadata;

public static class SegmentAccounting
{
    /// <summary>Every part of the segments with its node and stored length (what fill counters count).</summary>
    public static IEnumerable<PartLocation> Parts(this IEnumerable<Segment> segments) =>
        segments.SelectMany(segment => Enumerable.Range(0, segment.Nodes.Count).Select(segment.Part));

    /// <summary>The record with part <paramref name="shard"/> of segment <paramref name="segmentId"/> on another node.</summary>
    public static ObjectRecord WithPartMoved(this ObjectRecord record, string segmentId, int shard, string toNode) =>
        record with
        {
            Segments = [.. record.Segments.Select(s => s.Id != segmentId ? s : s with { Nodes = [.. s.Nodes.Select((node, i) => i == shard ? toNode : node)] })],
        };

    /// <summary>The segment holding the part a move names, if the record still has it on the node the move starts from.</summary>
    public static Segment? SegmentForMove(this ObjectRecord record, PartMove move) =>
        record.Segments.FirstOrDefault(s => s.Id == move.SegmentId) is { } segment
        && move.Shard < segment.Nodes.Count
        && segment.Nodes[move.Shard] == move.FromNode
            ? segment
            : null;

    public static PartLocation Part(this Segment segment, int shard) =>
        new(segment.Nodes[shard], PartKeys.For(segment.Id, shard), StripeLayout.For(segment).PartLength);
}
