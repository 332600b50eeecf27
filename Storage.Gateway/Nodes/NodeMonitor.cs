using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Nodes;

/// <summary>
/// Keeps this gateway's view of the cluster fresh: registers nodes that another gateway (or the admin API)
/// added, probes every node and checks that it still holds its own data (<see cref="NodeIdentity"/>), and refreshes
/// the fill counters that weight placement.
/// </summary>
public sealed class NodeMonitor(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeFactory factory,
    NodeIdentity identity,
    PlacementService placement,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<NodeMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Nodes registered elsewhere that this gateway cannot open; warned about once.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _unopenable = new(StringComparer.Ordinal);

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        foreach (var record in await metadata.ListNodesAsync(cancellationToken))
        {
            if (registry.Contains(record.Id))
            {
                continue;
            }

            try
            {
                registry.Register(factory.Create(record));
                logger.LogInformation("Node {Node} joined at {Address}", record.Id, record.Address);
            }
            catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException && _unopenable.TryAdd(record.Id, true))
            {
                // Another gateway knows this node (its connection string is configured there, not here): this one
                // serves without it, and healing counts it lost until this gateway is configured too.
                logger.LogWarning("Node {Node} cannot be used by this gateway: {Reason}", record.Id, ex.Message);
            }
            catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException)
            {
            }
        }

        var epochs = await metadata.GetNodeEpochsAsync(cancellationToken);
        var usage = await metadata.GetNodeUsageAsync(cancellationToken);
        await Task.WhenAll(registry.All.Select(status => ProbeAsync(
            status, epochs.GetValueOrDefault(status.Node.Id), usage.TryGetValue(status.Node.Id, out var used) && used.PartCount > 0, cancellationToken)));
        placement.UpdateUsage(usage);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Maintenance.NodeProbeInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Refreshing the node registry failed; retrying next interval");
            }
        }
    }

    private async Task ProbeAsync(NodeStatus status, NodeEpoch? epoch, bool holdsParts, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        NodeCapacity? capacity;
        string? refusal;
        try
        {
            capacity = await status.Node.ProbeAsync(timeout.Token);
            if (!registry.IsCurrent(status.Node))
            {
                // Replaced while probing (a discovered node moved or stopped): its identity must not be checked, or
                // written, at an address that may now be another server's.
                return;
            }

            refusal = await identity.CheckAsync(status.Node, epoch, holdsParts, timeout.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && NodeFailures.IsNodeFailure(ex))
        {
            if (status.State != NodeState.Down)
            {
                logger.LogWarning("Node {Node} is down: {Reason}", status.Node.Id, ex.Message);
            }

            registry.ReportDown(status.Node.Id, ex.Message, status.Node);
            return;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The node answered but its identity could not be compared with metadata (metadata unreachable): the node
            // keeps the state it had; the next probe checks again.
            logger.LogDebug(ex, "Node {Node}: identity check postponed", status.Node.Id);
            return;
        }

        if (refusal is not null)
        {
            if (status.LastError != refusal)
            {
                logger.LogError("Node {Node} is not used: {Reason}", status.Node.Id, refusal);
            }

            registry.ReportDown(status.Node.Id, refusal, status.Node);
            return;
        }

        if (status.State == NodeState.Down)
        {
            logger.LogInformation("Node {Node} is back up", status.Node.Id);
        }

        registry.ReportUp(status.Node.Id, capacity, status.Node);
    }
}
