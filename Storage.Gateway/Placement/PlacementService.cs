using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Placement;

/// <summary>
/// Chooses the nodes for a new segment among the nodes not known to be down, weighting each by its free room
/// (reported capacity minus accounted usage), so emptier nodes receive more parts.
/// </summary>
public sealed class PlacementService(NodeRegistry registry)
{
    /// <summary>A node that reports no capacity is treated as this large, so it still takes its share.</summary>
    private const double UnknownCapacity = 1L << 40;

    private IReadOnlyDictionary<string, NodeUsage> _usage = new Dictionary<string, NodeUsage>();

    public IReadOnlyDictionary<string, NodeUsage> Usage => Volatile.Read(ref _usage);

    /// <summary>Refreshed by the node monitor; a slightly stale view only nudges weights.</summary>
    public void UpdateUsage(IReadOnlyDictionary<string, NodeUsage> usage) => Volatile.Write(ref _usage, usage);

    /// <exception cref="InsufficientNodesException">Fewer than <paramref name="minimumNodes"/> nodes are available.</exception>
    public string[] Choose(string identity, int shards, int minimumNodes) =>
        RendezvousPlacement.Assign(identity, Candidates(EnsureWritable(minimumNodes)), shards);

    /// <summary>The nodes available for a write; the store takes writes only while at least <paramref name="minimumNodes"/> are.</summary>
    /// <exception cref="InsufficientNodesException">Fewer than <paramref name="minimumNodes"/> nodes are available.</exception>
    public IReadOnlyCollection<NodeStatus> EnsureWritable(int minimumNodes)
    {
        var available = registry.Available;
        return available.Count >= minimumNodes ? available : throw new InsufficientNodesException(available.Count, minimumNodes, registry.All.Count);
    }

    /// <summary>Nodes that are up, best first for this identity: where healing puts a rebuilt part.</summary>
    public string[] RankUp(string identity) =>
        registry.Up.Count == 0 ? [] : RendezvousPlacement.Rank(identity, Candidates(registry.Up));

    private PlacementCandidate[] Candidates(IReadOnlyCollection<NodeStatus> nodes)
    {
        var usage = Usage;
        return [.. nodes.Select(status => new PlacementCandidate(status.Node.Id, FreeRoom(status, usage)))];
    }

    private static double FreeRoom(NodeStatus status, IReadOnlyDictionary<string, NodeUsage> usage)
    {
        double capacity = status.Capacity?.TotalBytes ?? UnknownCapacity;
        var used = usage.TryGetValue(status.Node.Id, out var u) ? u.BytesUsed : 0;

        // Never zero: a full node is a poor choice, not an impossible one (the write itself will tell).
        return Math.Max(capacity - used, capacity / 100);
    }
}
