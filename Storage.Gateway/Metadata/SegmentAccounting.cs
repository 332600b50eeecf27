using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Metadata;

public static class SegmentAccounting
{
    /// <summary>Every part of the segments with its node and stored length (what fill counters count).</summary>
    public static IEnumerable<(string NodeId, string Key, long Length)> Parts(this IEnumerable<Segment> segments)
    {
        foreach (var segment in segments)
        {
            var length = StripeLayout.For(segment).PartLength;
            for (var shard = 0; shard < segment.Nodes.Count; shard++)
            {
                yield return (segment.Nodes[shard], PartKeys.For(segment.Id, shard), length);
            }
        }
    }
}
