using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Nodes;

/// <summary>
/// Keeps this gateway's view of the cluster fresh: registers nodes that another gateway (or the admin API)
/// added, probes every node, and refreshes the fill counters that weight placement.
/// </summary>
public sealed class NodeMonitor(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeFactory factory,
    PlacementService placement,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<NodeMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        foreach (var record in await metadata.ListNodesAsync(cancellationToken))
        {
            if (!registry.Contains(record.Id))
            {
                registry.Register(factory.Create(record));
                logger.LogInformation("Node {Node} joined at {Address}", record.Id, record.Address);
            }
        }

        await Task.WhenAll(registry.All.Select(status => ProbeAsync(status, cancellationToken)));
        placement.UpdateUsage(await metadata.GetNodeUsageAsync(cancellationToken));
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

    private async Task ProbeAsync(NodeStatus status, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            var capacity = await status.Node.ProbeAsync(timeout.Token);
            if (status.State == NodeState.Down)
            {
                logger.LogInformation("Node {Node} is back up", status.Node.Id);
            }

            registry.ReportUp(status.Node.Id, capacity);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (status.State != NodeState.Down)
            {
                logger.LogWarning("Node {Node} is down: {Reason}", status.Node.Id, ex.Message);
            }

            registry.ReportDown(status.Node.Id, ex.Message);
        }
    }
}
