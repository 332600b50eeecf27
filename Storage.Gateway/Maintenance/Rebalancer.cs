using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Moves parts from fuller to emptier nodes until every up node's used bytes are within <c>RebalanceBand</c> of
/// the mean — needed because writes alone can never fill a new node (every stripe needs distinct nodes). A part
/// moves only when the move brings both nodes closer to the mean; each move is copy (every block's CRC
/// checked), switch (compare-and-swap), and reclaim of the original after the grace period. Rate-limited, and
/// resumable by nature: the state is the metadata, so a pass interrupted anywhere simply continues next time.
/// </summary>
public sealed class Rebalancer(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeMonitor monitor,
    PartRepairer repairer,
    MaintenanceStatus status,
    GatewayInstance instance,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<Rebalancer> logger) : MaintenanceLoop(options.Value.Maintenance.RebalanceInterval, time, logger)
{
    public const string LeaseName = "rebalance";
    private const int MaxScans = 3;

    public async Task<RebalanceReport> RebalanceAsync(CancellationToken cancellationToken)
    {
        var started = Time.GetUtcNow();
        await using var lease = await MaintenanceLease.TryAcquireAsync(metadata, LeaseName, instance.Id, options.Value.Maintenance.LeaseDuration, Time, logger, cancellationToken);
        if (lease is null)
        {
            return new RebalanceReport(started, started, 0, 0, 0, 0, false, Skipped: "another gateway holds the rebalancing lease");
        }

        return await RebalanceHoldingLeaseAsync(started, lease.Lost);
    }

    private async Task<RebalanceReport> RebalanceHoldingLeaseAsync(DateTimeOffset started, CancellationToken cancellationToken)
    {
        using var running = status.MarkRebalancing();
        await monitor.RefreshAsync(cancellationToken);
        var settings = options.Value.Maintenance;
        var fill = await ProjectedFillAsync(cancellationToken);
        var spreadBefore = Spread(fill);
        long moved = 0, bytes = 0;
        for (var scan = 0; scan < MaxScans && Spread(fill) > settings.RebalanceBand / 2; scan++)
        {
            var movedThisScan = moved;
            await foreach (var record in metadata.AllObjectsAsync(cancellationToken))
            {
                foreach (var segment in record.Segments)
                {
                    var nodes = segment.Nodes.ToArray();
                    for (var shard = 0; shard < nodes.Length; shard++)
                    {
                        var length = segment.Part(shard).Length;
                        if (Destination(fill, nodes, nodes[shard], length) is not { } destination)
                        {
                            continue;
                        }

                        try
                        {
                            if (await repairer.CopyAsync(record, segment with { Nodes = [.. nodes] }, shard, destination, cancellationToken))
                            {
                                fill[nodes[shard]] -= length;
                                fill[destination] += length;
                                nodes[shard] = destination;
                                moved++;
                                bytes += length;
                                await ThrottleAsync(started, bytes, settings.RebalanceBytesPerSecond, cancellationToken);
                            }
                        }
                        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                        {
                            logger.LogWarning("Could not move part {Shard} of {Bucket}/{Key}: {Reason}", shard, record.Bucket, record.Key, ex.Message);
                        }
                    }
                }

                if (Spread(fill) <= settings.RebalanceBand / 2)
                {
                    break;
                }
            }

            if (moved == movedThisScan)
            {
                break;
            }
        }

        var spreadAfter = Spread(fill);
        var report = new RebalanceReport(started, Time.GetUtcNow(), moved, bytes, spreadBefore, spreadAfter, spreadAfter <= settings.RebalanceBand);
        status.Record(report);
        if (moved > 0)
        {
            logger.LogInformation("Rebalancing moved {Parts} parts ({Bytes} bytes); spread {Before:P1} -> {After:P1}", moved, bytes, spreadBefore, spreadAfter);
        }

        return report;
    }

    protected override Task RunScheduledPassAsync(CancellationToken cancellationToken) => RebalanceAsync(cancellationToken);

    /// <summary>Largest distance of any up node's fill from the mean, as a fraction of the mean.</summary>
    public static double Spread(IReadOnlyDictionary<string, long> fill)
    {
        if (fill.Count == 0)
        {
            return 0;
        }

        var mean = fill.Values.Average();
        return mean <= 0 ? 0 : fill.Values.Max(v => Math.Abs(v - mean)) / mean;
    }

    /// <summary>The emptiest up node the segment does not use, if moving the part there brings both nodes nearer the mean.</summary>
    private static string? Destination(Dictionary<string, long> fill, string[] segmentNodes, string source, long length)
    {
        if (!fill.TryGetValue(source, out var sourceFill))
        {
            return null;
        }

        var mean = fill.Values.Average();
        if (sourceFill - mean <= length / 2.0)
        {
            return null;
        }

        var (node, nodeFill) = fill.Where(f => !segmentNodes.Contains(f.Key)).OrderBy(f => f.Value).FirstOrDefault();
        return node is not null && mean - nodeFill > length / 2.0 ? node : null;
    }

    /// <summary>Bytes each up node holds, minus parts already queued for deletion (they are leaving).</summary>
    private async Task<Dictionary<string, long>> ProjectedFillAsync(CancellationToken cancellationToken)
    {
        var usage = await metadata.GetNodeUsageAsync(cancellationToken);
        var fill = registry.Up.ToDictionary(n => n.Node.Id, n => usage.TryGetValue(n.Node.Id, out var u) ? u.BytesUsed : 0, StringComparer.Ordinal);
        foreach (var entry in await metadata.GetDueReclaimsAsync(DateTimeOffset.MaxValue, 100_000, cancellationToken))
        {
            foreach (var part in entry.Parts.Where(p => entry.Accounted && fill.ContainsKey(p.NodeId)))
            {
                fill[part.NodeId] -= part.Length;
            }
        }

        return fill;
    }

    private async Task ThrottleAsync(DateTimeOffset started, long bytes, long bytesPerSecond, CancellationToken cancellationToken)
    {
        if (bytesPerSecond <= 0)
        {
            return;
        }

        var due = TimeSpan.FromSeconds((double)bytes / bytesPerSecond) - (Time.GetUtcNow() - started);
        if (due > TimeSpan.Zero)
        {
            await Task.Delay(due, Time, cancellationToken);
        }
    }
}
