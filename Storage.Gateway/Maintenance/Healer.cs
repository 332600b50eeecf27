using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Restores every object's protection: a part on a node that has been down longer than <c>HealAfter</c> (or
/// removed from configuration) is rebuilt from the other parts onto an up node the segment does not use yet, and
/// a part doubled up on one node (written while few nodes were available) is spread onto a node of its own.
/// Each rebuilt part switches in metadata only once durable.
/// </summary>
public sealed class Healer(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeMonitor monitor,
    PlacementService placement,
    PartRepairer repairer,
    MaintenanceStatus status,
    GatewayInstance instance,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<Healer> logger) : MaintenanceLoop(options.Value.Maintenance.HealInterval, time, logger)
{
    public const string LeaseName = "heal";

    public async Task<HealReport> HealAsync(CancellationToken cancellationToken)
    {
        var started = Time.GetUtcNow();
        if (!await metadata.TryAcquireLeaseAsync(LeaseName, instance.Id, TimeSpan.FromMinutes(10), cancellationToken))
        {
            return new HealReport(started, started, 0, 0, 0, 0, 0, [], Skipped: "another gateway holds the healing lease");
        }

        using var running = status.MarkHealing();

        // Another replica may have added nodes since the last probe: a part on a node this gateway does not know
        // yet must not look lost.
        await monitor.RefreshAsync(cancellationToken);
        var lost = registry.All
            .Where(n => n.State == NodeState.Down && started - n.DownSince >= options.Value.Maintenance.HealAfter)
            .Select(n => n.Node.Id)
            .ToHashSet(StringComparer.Ordinal);
        bool IsLost(string node) => lost.Contains(node) || !registry.Contains(node);

        long scanned = 0, underProtected = 0, rebuilt = 0, failed = 0, still = 0;
        await foreach (var record in metadata.AllObjectsAsync(cancellationToken))
        {
            scanned++;
            var damaged = false;
            var healed = true;
            foreach (var original in record.Segments)
            {
                var nodes = original.Nodes.ToArray();
                var problems = Enumerable.Range(0, nodes.Length).Where(i => IsLost(nodes[i]) || nodes.AsSpan(0, i).Contains(nodes[i])).ToArray();
                damaged |= problems.Length > 0;
                foreach (var shard in problems)
                {
                    var used = nodes.Where((node, i) => i != shard && !IsLost(node)).ToHashSet(StringComparer.Ordinal);
                    if (placement.RankUp($"{record.Bucket}/{record.Key}").FirstOrDefault(node => !used.Contains(node)) is not { } target)
                    {
                        healed = false;
                        continue;
                    }

                    try
                    {
                        if (await repairer.RebuildAsync(record, original with { Nodes = [.. nodes] }, shard, target, cancellationToken))
                        {
                            nodes[shard] = target;
                            rebuilt++;
                        }
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        logger.LogWarning("Could not rebuild part {Shard} of {Bucket}/{Key}: {Reason}", shard, record.Bucket, record.Key, ex.Message);
                        failed++;
                        healed = false;
                    }
                }
            }

            underProtected += damaged ? 1 : 0;
            still += damaged && !healed ? 1 : 0;
        }

        var report = new HealReport(started, Time.GetUtcNow(), scanned, underProtected, rebuilt, failed, still, [.. lost.Order(StringComparer.Ordinal)]);
        status.Record(report);
        if (underProtected > 0)
        {
            logger.LogInformation("Healing: {Objects} under-protected objects, {Rebuilt} parts rebuilt, {Still} still under-protected", underProtected, rebuilt, still);
        }

        return report;
    }

    protected override Task RunScheduledPassAsync(CancellationToken cancellationToken) => HealAsync(cancellationToken);
}
