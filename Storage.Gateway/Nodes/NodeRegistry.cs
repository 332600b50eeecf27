using System.Collections.Concurrent;

namespace Storage.Gateway.Nodes;

public enum NodeState
{
    /// <summary>Registered, not probed yet.</summary>
    Unknown,
    Up,
    Down,
}

/// <summary>This gateway's live view of one node: the node itself and what the last probe or request found.</summary>
public sealed record NodeStatus(IStorageNode Node, NodeState State, NodeCapacity? Capacity, string? LastError, DateTimeOffset CheckedAt, DateTimeOffset? DownSince = null);

/// <summary>
/// The nodes this gateway can reach, by id, with their health. Metadata holds the durable registry; this is the
/// in-process view that placement and reads consult on every request.
/// </summary>
public sealed class NodeRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, NodeStatus> _nodes = new(StringComparer.Ordinal);

    public IReadOnlyCollection<NodeStatus> All => [.. _nodes.Values.OrderBy(n => n.Node.Id, StringComparer.Ordinal)];

    public IReadOnlyCollection<NodeStatus> Available => [.. All.Where(n => n.State != NodeState.Down)];

    public bool Contains(string id) => _nodes.ContainsKey(id);

    public void Register(IStorageNode node) =>
        _nodes.TryAdd(node.Id, new NodeStatus(node, NodeState.Unknown, null, null, time.GetUtcNow()));

    /// <summary>
    /// Puts a new client in the node's place (a discovered node at a new address): not probed yet, or down for
    /// <paramref name="downReason"/> (from the start, so no request picks it in between).
    /// </summary>
    public void Replace(IStorageNode node, string? downReason = null) =>
        _nodes.AddOrUpdate(
            node.Id,
            _ => Fresh(node, downReason),
            // Only a probe that finds it up ends a node's outage: a container that keeps restarting stays "down since"
            // its first failure, so healing still starts after HealAfter.
            (_, current) => Fresh(node, downReason) with { DownSince = current.DownSince ?? (downReason is null ? null : time.GetUtcNow()) });

    private NodeStatus Fresh(IStorageNode node, string? downReason) => downReason is null
        ? new NodeStatus(node, NodeState.Unknown, null, null, time.GetUtcNow())
        : new NodeStatus(node, NodeState.Down, null, downReason, time.GetUtcNow(), time.GetUtcNow());

    public bool TryGet(string id, out NodeStatus status) => _nodes.TryGetValue(id, out status!);

    /// <summary>
    /// Marks the node up. With <paramref name="probed"/>, only if that is still the node's client: a probe that
    /// started before the node was replaced (a discovered node at a new address, or stopped) says nothing about it.
    /// </summary>
    public void ReportUp(string id, NodeCapacity? capacity, IStorageNode? probed = null) =>
        Update(id, probed, status => status with { State = NodeState.Up, Capacity = capacity, LastError = null, CheckedAt = time.GetUtcNow(), DownSince = null });

    /// <summary>Marks the node down until the next successful probe; reads then skip it and writes avoid it.</summary>
    public void ReportDown(string id, string reason, IStorageNode? probed = null) =>
        Update(id, probed, status => status with { State = NodeState.Down, LastError = reason, CheckedAt = time.GetUtcNow(), DownSince = status.DownSince ?? time.GetUtcNow() });

    /// <summary>Whether <paramref name="node"/> is still the client registered for its id.</summary>
    public bool IsCurrent(IStorageNode node) => _nodes.TryGetValue(node.Id, out var status) && ReferenceEquals(status.Node, node);

    /// <summary>Only nodes known to be up: healing and rebalancing write to these and nowhere else.</summary>
    public IReadOnlyCollection<NodeStatus> Up => [.. All.Where(n => n.State == NodeState.Up)];

    private void Update(string id, IStorageNode? probed, Func<NodeStatus, NodeStatus> change)
    {
        while (_nodes.TryGetValue(id, out var current) && (probed is null || ReferenceEquals(current.Node, probed)) && !_nodes.TryUpdate(id, change(current), current))
        {
        }
    }
}
