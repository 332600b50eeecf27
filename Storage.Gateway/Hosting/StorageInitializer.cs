using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Hosting;

/// <summary>
/// Brings the store up before the first request: metadata schema, configured nodes registered (an empty
/// configuration gets the embedded default of one folder per stripe part), nodes other gateways added, the REST
/// APIs' buckets, and a first probe of every node.
/// </summary>
public sealed class StorageInitializer(
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeMonitor monitor,
    ObjectStore store,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<StorageInitializer> logger)
{
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        await metadata.InitializeAsync(cancellationToken);
        logger.LogInformation("Metadata: {Store}", metadata);

        var known = (await metadata.ListNodesAsync(cancellationToken)).ToDictionary(n => n.Id, StringComparer.Ordinal);
        foreach (var (id, path) in ConfiguredFolders(settings))
        {
            var node = new FolderNode(id, path);
            node.Create();
            if (known.TryGetValue(id, out var record) && record.Address != node.Address)
            {
                logger.LogWarning("Node {Node} was registered at {Old} and is now configured at {New}; using the configured folder", id, record.Address, node.Address);
            }
            else if (record is null)
            {
                await metadata.AddNodeAsync(new NodeRecord(id, NodeFactory.FolderKind, node.Address, time.GetUtcNow()), cancellationToken);
            }

            registry.Register(node);
        }

        await monitor.RefreshAsync(cancellationToken);
        foreach (var status in registry.All)
        {
            logger.LogInformation("Node {Node}: {Address} ({State})", status.Node.Id, status.Node.Address, status.State);
        }

        await store.EnsureBucketAsync(settings.RestApi.ObjectsBucket, cancellationToken);
        await store.EnsureBucketAsync(settings.RestApi.FilesBucket, cancellationToken);
        var tolerance = NodeAdministration.Tolerance(registry.Available.Count, settings.DataShards, settings.ParityShards);
        logger.Log(tolerance.Reduced ? LogLevel.Warning : LogLevel.Information, "Layout {Data}+{Parity}: {Summary}", settings.DataShards, settings.ParityShards, tolerance.Summary);
        logger.LogInformation("Erasure kernel: {Kernel} (fastest measured on this CPU)", GaloisKernel.Best.Name);
    }

    private static IEnumerable<(string Id, string Path)> ConfiguredFolders(StorageOptions settings) =>
        settings.Nodes.Count > 0
            ? settings.Nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => (n.Key, n.Value))
            : Enumerable.Range(1, settings.DefaultNodeCount).Select(i => ($"node{i}", Path.Combine(settings.DataPath, "nodes", $"node{i}")));
}
