using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// How well the objects already stored are protected right now, counted from metadata: nodes that are down, and
/// nodes whose contents are not verified (they came back without their data), count as holding nothing.
/// <see cref="FailuresTolerated"/> is the worst case: how many more node losses every object survives.
/// </summary>
public sealed record ProtectionReport(
    DateTimeOffset AsOf,
    IReadOnlyList<string> UnavailableNodes,
    long ObjectsScanned,
    long UnderProtectedObjects,
    long UnderProtectedBytes,
    long UnreadableObjects,
    int FailuresTolerated);

/// <summary>
/// Keeps a <see cref="ProtectionReport"/> current without a scan per request: the census walks the object records
/// in the background when the set of unavailable nodes changes, and again after every healing pass and while
/// objects are under-protected (at most every <see cref="MinimumInterval"/>); a request that finds the node set changed
/// since the latest census waits for a new one (<see cref="CurrentAsync"/>), so a census runs once per change, not per request.
/// </summary>
public sealed class ProtectionCensus(
    IMetadataStore metadata,
    NodeRegistry registry,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<ProtectionCensus> logger) : BackgroundService
{
    private static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _running = new(1, 1);
    private ProtectionReport? _latest;
    private int _requested;

    public ProtectionReport? Latest => Volatile.Read(ref _latest);

    /// <summary>Asks for a census soon (healing changed what is protected).</summary>
    public void Request() => Interlocked.Exchange(ref _requested, 1);

    /// <summary>The nodes that count as holding nothing now: down, or not verified since they lost their data.</summary>
    public async Task<string[]> UnavailableNodesAsync(CancellationToken cancellationToken)
    {
        var epochs = await metadata.GetNodeEpochsAsync(cancellationToken);
        return [.. registry.All
            .Where(n => n.State == NodeState.Down || (epochs.TryGetValue(n.Node.Id, out var epoch) && !epoch.IsVerified))
            .Select(n => n.Node.Id)
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>The latest census if it was taken with the nodes unavailable now; otherwise a new one (one at a time).</summary>
    public async Task<ProtectionReport> CurrentAsync(CancellationToken cancellationToken)
    {
        var unavailable = await UnavailableNodesAsync(cancellationToken);
        return Latest is { } latest && latest.UnavailableNodes.SequenceEqual(unavailable, StringComparer.Ordinal)
            ? latest
            : await RunAsync(cancellationToken);
    }

    public async Task<ProtectionReport> RunAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            return await CountAsync(cancellationToken);
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<ProtectionReport> CountAsync(CancellationToken cancellationToken)
    {
        var unavailable = (await UnavailableNodesAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var parity = options.Value.ParityShards;
        long scanned = 0, underProtected = 0, underProtectedBytes = 0, unreadable = 0;
        var worst = parity;
        await foreach (var record in metadata.AllObjectsAsync(cancellationToken))
        {
            scanned++;
            var tolerated = record.Segments.Count == 0 ? parity : record.Segments.Min(segment => Tolerance(segment, unavailable));
            worst = Math.Min(worst, tolerated);
            if (tolerated < 0)
            {
                unreadable++;
            }

            if (record.Segments.Any(segment => segment.Nodes.Any(unavailable.Contains) || segment.Nodes.Distinct(StringComparer.Ordinal).Count() < segment.Nodes.Count))
            {
                underProtected++;
                underProtectedBytes += record.Size;
            }
        }

        var report = new ProtectionReport(time.GetUtcNow(), [.. unavailable.Order(StringComparer.Ordinal)], scanned, underProtected, underProtectedBytes, unreadable, Math.Max(worst, -1));
        Volatile.Write(ref _latest, report);
        return report;
    }

    /// <summary>
    /// How many more node losses the segment survives: its parts on available nodes minus the DataShards it needs,
    /// spent on the available nodes holding most of its parts first (a node holding two parts costs two). Negative
    /// when it cannot be read now.
    /// </summary>
    public static int Tolerance(Segment segment, IReadOnlySet<string> unavailable)
    {
        var perNode = segment.Nodes.Where(node => !unavailable.Contains(node)).GroupBy(node => node, StringComparer.Ordinal).Select(g => g.Count()).OrderDescending().ToArray();
        var spare = perNode.Sum() - segment.DataShards;
        if (spare < 0)
        {
            return -1;
        }

        var survived = 0;
        foreach (var parts in perNode)
        {
            if (spare < parts)
            {
                break;
            }

            spare -= parts;
            survived++;
        }

        return survived;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Maintenance.NodeProbeInterval, time);
        var lastRun = DateTimeOffset.MinValue;
        do
        {
            try
            {
                var unavailable = await UnavailableNodesAsync(stoppingToken);
                var latest = Latest;
                var changed = latest is null || !latest.UnavailableNodes.SequenceEqual(unavailable, StringComparer.Ordinal);
                var due = Interlocked.Exchange(ref _requested, 0) == 1 || latest?.UnderProtectedObjects > 0;
                if (changed || (due && time.GetUtcNow() - lastRun >= MinimumInterval))
                {
                    lastRun = time.GetUtcNow();
                    var report = await RunAsync(stoppingToken);
                    if (changed && report.UnderProtectedObjects > 0)
                    {
                        logger.LogWarning(
                            "Protection: {Objects} objects ({Bytes} bytes) have parts on unavailable nodes {Nodes}; the worst survives {Tolerated} more node losses",
                            report.UnderProtectedObjects, report.UnderProtectedBytes, string.Join(", ", report.UnavailableNodes), report.FailuresTolerated);
                    }
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(ex, "Protection census postponed");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
