using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Nodes.Discovery;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Erasure;
using Storage.Gateway.Objects.Multipart;

namespace Storage.Gateway.Hosting;

/// <summary>
/// Brings the store up before the first request: metadata schema, configured nodes registered (an empty
/// configuration without discovery gets the embedded default of one folder per stripe part), a first look of every
/// discovery, nodes other gateways added, the REST APIs' buckets, uploads an earlier version left in its shared hidden
/// bucket moved to their buckets, and a first probe of every node.
/// </summary>
public sealed class StorageInitializer(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeFactory factory,
    NodeMonitor monitor,
    IEnumerable<INodeDiscovery> discoveries,
    ObjectStore store,
    MultipartUploads uploads,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<StorageInitializer> logger)
{
    /// <summary>How long start-up waits for a node to answer; one that does not is started without (and probed).</summary>
    private static readonly TimeSpan NodeStartTimeout = TimeSpan.FromSeconds(10);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        await metadata.InitializeAsync(cancellationToken);
        logger.LogInformation("Metadata: {Store}", metadata);

        var known = (await metadata.ListNodesAsync(cancellationToken)).ToDictionary(n => n.Id, StringComparer.Ordinal);
        var discovering = discoveries.ToArray();
        foreach (var configured in factory.Configured(settings, time.GetUtcNow(), discovering.Length > 0))
        {
            var node = factory.Create(configured);
            await PrepareAsync(node, cancellationToken);
            if (known.TryGetValue(configured.Id, out var record) && record.Address != configured.Address)
            {
                logger.LogWarning("Node {Node} was registered at {Old} and is now configured at {New}; using the configuration", configured.Id, record.Address, configured.Address);
            }
            else if (record is null)
            {
                await metadata.AddNodeAsync(configured, cancellationToken);
            }

            registry.Register(node);
        }

        foreach (var discovery in discovering)
        {
            await discovery.DiscoverAsync(cancellationToken);
        }

        await monitor.RefreshAsync(cancellationToken);
        foreach (var status in registry.All)
        {
            logger.LogInformation("Node {Node}: {Address} ({State})", status.Node.Id, status.Node.Address, status.State);
        }

        await store.EnsureBucketAsync(settings.RestApi.ObjectsBucket, cancellationToken);
        await store.EnsureBucketAsync(settings.RestApi.FilesBucket, cancellationToken);
        if (await uploads.MoveLegacyUploadsAsync(cancellationToken) is > 0 and var moved)
        {
            logger.LogInformation("Moved {Count} multipart uploads in progress from the shared hidden bucket to their buckets' companions", moved);
        }

        var tolerance = NodeAdministration.Tolerance(registry.Available.Count, settings.DataShards, settings.ParityShards);
        logger.Log(tolerance.Reduced ? LogLevel.Warning : LogLevel.Information, "Layout {Data}+{Parity}: {Summary}", settings.DataShards, settings.ParityShards, tolerance.Summary);
        logger.LogInformation("Erasure kernel: {Kernel} (fastest measured on this CPU)", GaloisKernel.Best.Name);
    }

    /// <summary>
    /// Prepares a node's storage if it answers. A node that is down does not keep the gateway from starting: it is
    /// registered anyway and the monitor's first probe reports it down, and prepares it when it answers later.
    /// </summary>
    private async Task PrepareAsync(IStorageNode node, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(NodeStartTimeout);
        try
        {
            await node.CreateAsync(timeout.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && NodeFailures.IsNodeFailure(ex))
        {
            logger.LogWarning("Node {Node} at {Address} does not answer at start-up ({Reason}); starting without it and probing it every {Interval}",
                node.Id, node.Address, ex.Message, options.Value.Maintenance.NodeProbeInterval);
        }
    }
}
