using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Nodes;

public sealed record NodeView(
    string Id,
    string Kind,
    string Address,
    string State,
    long BytesUsed,
    long PartCount,
    long? CapacityBytes,
    long? FreeBytes,
    string? LastError,
    DateTimeOffset CheckedAt);

/// <summary>How many node losses every new object survives with the nodes available now.</summary>
public sealed record FaultTolerance(int NodesAvailable, int PartsPerStripe, int MaxPartsPerNode, int NodeFailuresTolerated, bool Reduced, bool WritesPossible, string Summary);

public sealed record ClusterView(int DataShards, int ParityShards, FaultTolerance Tolerance, IReadOnlyList<NodeView> Nodes);

/// <summary>
/// The one-page answer to "is my data safe, and is anything being done about it?": <see cref="Tolerance"/> is what new
/// objects get with the nodes up now; <see cref="FailuresTolerated"/> is the worst case over the objects already stored
/// (how many more node losses every one of them survives), with the under-protected and unreadable counts behind it,
/// counted at <see cref="ProtectionCountedAt"/> with <see cref="UnavailableNodes"/> (down, or not verified since they
/// lost their data) holding nothing.
/// </summary>
public sealed record ClusterHealth(
    string Status,
    FaultTolerance Tolerance,
    int NodesUp,
    IReadOnlyList<string> NodesDown,
    IReadOnlyList<string> UnavailableNodes,
    double FillSpread,
    int FailuresTolerated,
    long UnderProtectedObjects,
    long UnderProtectedBytes,
    long UnreadableObjects,
    DateTimeOffset ProtectionCountedAt,
    bool Healing,
    Maintenance.HealReport? LastHeal,
    bool Rebalancing,
    Maintenance.RebalanceReport? LastRebalance);

public sealed class NodeAlreadyExistsException(string id) : InvalidOperationException($"A node with id '{id}' already exists; nodes are never replaced or removed.");

/// <summary>Adds nodes (never removes them) and describes the cluster for the admin API.</summary>
public sealed class NodeAdministration(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeFactory factory,
    NodeMonitor monitor,
    PlacementService placement,
    IOptions<StorageOptions> options,
    TimeProvider time)
{
    /// <summary>Registers a folder node; its folder is created. Throws <see cref="NodeAlreadyExistsException"/> for a taken id.</summary>
    public async Task<NodeRecord> AddFolderNodeAsync(string? id, string path, CancellationToken cancellationToken)
    {
        var existing = await metadata.ListNodesAsync(cancellationToken);
        id ??= NextId(existing);
        var node = new FolderNode(id, path);
        if (existing.Any(n => n.Kind == NodeFactory.FolderKind && n.Address == node.Address && n.Id != id))
        {
            throw new NodeAlreadyExistsException(existing.First(n => n.Address == node.Address).Id);
        }

        var record = new NodeRecord(id, NodeFactory.FolderKind, node.Address, time.GetUtcNow());
        await node.CreateAsync(cancellationToken);
        if (!await metadata.AddNodeAsync(record, cancellationToken))
        {
            throw new NodeAlreadyExistsException(id);
        }

        registry.Register(factory.Create(record));
        await monitor.RefreshAsync(cancellationToken);
        return record;
    }

    public async Task<ClusterView> DescribeAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var records = (await metadata.ListNodesAsync(cancellationToken)).ToDictionary(n => n.Id, StringComparer.Ordinal);
        var usage = await metadata.GetNodeUsageAsync(cancellationToken);
        placement.UpdateUsage(usage);
        var nodes = registry.All.Select(status =>
        {
            usage.TryGetValue(status.Node.Id, out var used);
            return new NodeView(
                status.Node.Id,
                records.TryGetValue(status.Node.Id, out var record) ? record.Kind : "unknown",
                status.Node.Address,
                status.State.ToString().ToLowerInvariant(),
                used?.BytesUsed ?? 0,
                used?.PartCount ?? 0,
                status.Capacity?.TotalBytes,
                status.Capacity?.FreeBytes,
                status.LastError,
                status.CheckedAt);
        }).ToArray();
        return new ClusterView(settings.DataShards, settings.ParityShards, Tolerance(registry.Available.Count, settings.DataShards, settings.ParityShards), nodes);
    }

    public async Task<ClusterHealth> HealthAsync(Maintenance.MaintenanceStatus maintenance, Maintenance.ProtectionCensus census, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var tolerance = Tolerance(registry.Available.Count, settings.DataShards, settings.ParityShards);
        var down = registry.All.Where(n => n.State == NodeState.Down).Select(n => n.Node.Id).ToArray();
        var usage = await metadata.GetNodeUsageAsync(cancellationToken);
        var fill = registry.Up.ToDictionary(n => n.Node.Id, n => usage.TryGetValue(n.Node.Id, out var u) ? u.BytesUsed : 0);
        var protection = await census.CurrentAsync(cancellationToken);
        var status = !tolerance.WritesPossible || protection.UnreadableObjects > 0 ? "unavailable"
            : tolerance.Reduced || down.Length > 0 || protection.UnderProtectedObjects > 0 || protection.UnavailableNodes.Count > 0 ? "degraded"
            : "healthy";
        return new ClusterHealth(
            status, tolerance, registry.Up.Count, down, protection.UnavailableNodes, Maintenance.Rebalancer.Spread(fill),
            protection.FailuresTolerated, protection.UnderProtectedObjects, protection.UnderProtectedBytes, protection.UnreadableObjects, protection.AsOf,
            maintenance.Healing, maintenance.LastHeal, maintenance.Rebalancing, maintenance.LastRebalance);
    }

    public static FaultTolerance Tolerance(int available, int dataShards, int parityShards)
    {
        var parts = dataShards + parityShards;
        if (available < dataShards)
        {
            return new FaultTolerance(available, parts, 0, 0, true, false,
                $"Only {available} nodes are available; writes need at least {dataShards}. New objects cannot be stored.");
        }

        var maxPerNode = (parts + available - 1) / available;
        var tolerated = parityShards / maxPerNode;
        return maxPerNode == 1
            ? new FaultTolerance(available, parts, 1, tolerated, false, true,
                $"Every stripe has its {parts} parts on distinct nodes: any {parityShards} nodes can be lost.")
            : new FaultTolerance(available, parts, maxPerNode, tolerated, true, true,
                $"Reduced tolerance: {available} nodes for {parts} parts per stripe puts up to {maxPerNode} parts on one node, so only {tolerated} node losses are survivable. Add {parts - available} nodes for full protection.");
    }

    private static string NextId(IReadOnlyList<NodeRecord> existing)
    {
        var taken = existing.Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var n = existing.Count + 1;
        while (taken.Contains($"node{n}"))
        {
            n++;
        }

        return $"node{n}";
    }
}
