using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Restores every object's protection, on whichever gateway holds the healing lease:
/// <list type="bullet">
/// <item>a part on a node down longer than <c>HealAfter</c> (or no longer registered) is rebuilt from the other parts
/// onto an up node the segment does not use yet; a registered node this gateway cannot open (configured on other
/// gateways only) is left alone;</item>
/// <item>a part doubled up on one node (written while few nodes were available) is spread onto a node of its own;</item>
/// <item>a node whose epoch is not verified (it came back without its data, or is new to this version) is listed and
/// every part metadata places on it but it lacks (or holds at the wrong length) is rebuilt in place; once none is
/// missing the epoch is marked verified. Every <c>ScrubInterval</c> all up nodes are verified this way.</item>
/// </list>
/// A rebuilt part switches in metadata only once durable; one rebuilt in place is byte-for-byte the part it
/// replaces. The pass wakes early when a node is found without its data or a read finds a part damaged.
/// </summary>
public sealed class Healer(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeMonitor monitor,
    PlacementService placement,
    PartRepairer repairer,
    RepairSignal repairs,
    ProtectionCensus census,
    MaintenanceStatus status,
    GatewayInstance instance,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<Healer> logger) : MaintenanceLoop(options.Value.Maintenance.HealInterval, time, logger)
{
    public const string LeaseName = "heal";

    private DateTimeOffset _lastScrub = time.GetUtcNow();

    public async Task<HealReport> HealAsync(CancellationToken cancellationToken)
    {
        var started = Time.GetUtcNow();
        var settings = options.Value.Maintenance;
        await using var lease = await MaintenanceLease.TryAcquireAsync(metadata, LeaseName, instance.Id, settings.LeaseDuration, Time, logger, cancellationToken);
        if (lease is null)
        {
            return new HealReport(started, started, 0, 0, 0, 0, 0, [], Skipped: "another gateway holds the healing lease");
        }

        using var running = status.MarkHealing();
        var token = lease.Lost;

        // Another replica may have added nodes since the last probe: a part on a node this gateway does not know
        // yet must not look lost.
        await monitor.RefreshAsync(token);
        var lost = registry.All
            .Where(n => n.State == NodeState.Down && started - n.DownSince >= settings.HealAfter)
            .Select(n => n.Node.Id)
            .ToHashSet(StringComparer.Ordinal);
        // A node no longer registered at all is lost; one registered that this gateway cannot open (configured on
        // other gateways only) is not: its parts stay where they are.
        var registered = (await metadata.ListNodesAsync(token)).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        bool IsLost(string node) => lost.Contains(node) || !registered.Contains(node);

        var scrub = started - _lastScrub >= settings.ScrubInterval;
        var verifying = await ListNodesToVerifyAsync(scrub, token);

        long scanned = 0, underProtected = 0, rebuilt = 0, failed = 0, still = 0, missing = 0;
        await foreach (var record in metadata.AllObjectsAsync(token))
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
                        if (await repairer.RebuildAsync(record, original with { Nodes = [.. nodes] }, shard, target, token))
                        {
                            nodes[shard] = target;
                            rebuilt++;
                        }
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        logger.LogWarning("Could not rebuild part {Shard} of {Bucket}/{Key}: {Reason}", shard, record.Bucket, record.Key, ex.Message);
                        failed++;
                        healed = false;
                    }
                }

                foreach (var shard in Enumerable.Range(0, nodes.Length).Where(i => !problems.Contains(i)))
                {
                    if (!verifying.TryGetValue(nodes[shard], out var listing) || listing.Holds(original.Part(shard))
                        || await WrittenSinceListingAsync(original, shard, token))
                    {
                        continue;
                    }

                    missing++;
                    damaged = true;
                    if (await repairer.RestoreAsync(record, original, shard, token))
                    {
                        rebuilt++;
                    }
                    else
                    {
                        listing.Incomplete = true;
                        failed++;
                        healed = false;
                    }
                }
            }

            underProtected += damaged ? 1 : 0;
            still += damaged && !healed ? 1 : 0;
        }

        var verified = new List<string>();
        foreach (var (node, listing) in verifying.Where(v => !v.Value.Incomplete))
        {
            if (await metadata.MarkNodeVerifiedAsync(node, listing.Epoch, token))
            {
                verified.Add(node);
            }
        }

        if (scrub)
        {
            _lastScrub = started;
        }

        if (rebuilt > 0 || verified.Count > 0)
        {
            census.Request();
        }

        var report = new HealReport(started, Time.GetUtcNow(), scanned, underProtected, rebuilt, failed, still, [.. lost.Order(StringComparer.Ordinal)], missing, verified);
        status.Record(report);
        if (underProtected > 0 || verified.Count > 0)
        {
            logger.LogInformation(
                "Healing: {Objects} under-protected objects, {Missing} parts missing from nodes, {Rebuilt} parts rebuilt, {Still} still under-protected; verified {Verified}",
                underProtected, missing, rebuilt, still, verified.Count == 0 ? "no node" : string.Join(", ", verified));
        }

        return report;
    }

    protected override Task RunScheduledPassAsync(CancellationToken cancellationToken) => HealAsync(cancellationToken);

    protected override Task WaitForWakeAsync(CancellationToken cancellationToken) => repairs.WaitAsync(cancellationToken);

    /// <summary>The up nodes whose contents this pass checks (unverified epochs; all of them when a scrub is due), each listed once.</summary>
    private async Task<Dictionary<string, NodeListing>> ListNodesToVerifyAsync(bool scrub, CancellationToken cancellationToken)
    {
        var epochs = await metadata.GetNodeEpochsAsync(cancellationToken);
        var listings = new Dictionary<string, NodeListing>(StringComparer.Ordinal);
        foreach (var status in registry.Up)
        {
            if (!epochs.TryGetValue(status.Node.Id, out var epoch) || (epoch.IsVerified && !scrub))
            {
                continue;
            }

            try
            {
                var parts = new Dictionary<string, long>(StringComparer.Ordinal);
                await foreach (var part in status.Node.ListAsync(PartKeys.Root, cancellationToken))
                {
                    parts[part.Key] = part.Length;
                }

                listings[status.Node.Id] = new NodeListing(epoch.Epoch, parts);
            }
            catch (IOException ex)
            {
                logger.LogWarning("Could not list node {Node} to verify it: {Reason}; next pass", status.Node.Id, ex.Message);
            }
        }

        return listings;
    }

    /// <summary>A part the node lacked when listed may have been written since (a new object or a move).</summary>
    private async Task<bool> WrittenSinceListingAsync(Segment segment, int shard, CancellationToken cancellationToken)
    {
        var expected = segment.Part(shard);
        try
        {
            return registry.TryGet(expected.NodeId, out var status)
                && await status.Node.StatAsync(expected.Key, cancellationToken) is { } found && found.Length == expected.Length;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>What a node holds (key → length) in the epoch being verified; incomplete when a missing part could not be restored.</summary>
    private sealed class NodeListing(string epoch, Dictionary<string, long> parts)
    {
        public string Epoch { get; } = epoch;

        public bool Incomplete { get; set; }

        public bool Holds(PartLocation part) => parts.TryGetValue(part.Key, out var length) && length == part.Length;
    }
}
