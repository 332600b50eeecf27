using System.Text.RegularExpressions;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes.Discovery;

namespace Storage.Gateway.Nodes;

/// <summary>
/// Turns registry records and configuration into node clients. Folder nodes come from <c>Storage:Nodes:&lt;id&gt;</c>,
/// S3/MinIO nodes from every <c>ConnectionStrings:node&lt;N&gt;</c> or from a discovery (<see cref="DiscoveredNodes"/>). An
/// S3 node's credentials are read from configuration or the discovery each time it is opened and never stored in metadata.
/// </summary>
public sealed partial class NodeFactory(IConfiguration configuration, DiscoveredNodes discovered)
{
    public const string FolderKind = "folder";
    public const string S3Kind = "s3";

    public IStorageNode Create(NodeRecord record) => record.Kind switch
    {
        FolderKind => new FolderNode(record.Id, record.Address),
        S3Kind => new S3Node(record.Id, configuration.GetConnectionString(record.Id) is { Length: > 0 } connection
            ? S3NodeOptions.Parse(connection)
            : discovered.TryGet(record.Id, out var found)
                ? found
                : throw new InvalidOperationException($"S3 node '{record.Id}' is registered but neither ConnectionStrings:{record.Id} is configured on this gateway nor has its discovery found it.")),
        _ => throw new NotSupportedException($"Node '{record.Id}' has kind '{record.Kind}', which this gateway cannot open."),
    };

    /// <summary>
    /// The nodes configuration names, as records: folder nodes, then S3 nodes; with neither, and no discovery to find
    /// nodes (<paramref name="discovering"/>), the embedded default of one folder per stripe part under the data folder.
    /// </summary>
    public IReadOnlyList<NodeRecord> Configured(StorageOptions settings, DateTimeOffset now, bool discovering)
    {
        var s3 = configuration.GetSection("ConnectionStrings").GetChildren()
            .Where(child => S3NodeName().IsMatch(child.Key) && !string.IsNullOrWhiteSpace(child.Value))
            .Select(child => new NodeRecord(child.Key, S3Kind, S3NodeOptions.Parse(child.Value!).Address, now));
        var folders = settings.Nodes
            .Select(node => new NodeRecord(node.Key, FolderKind, new FolderNode(node.Key, node.Value).Address, now));
        var configured = folders.Concat(s3).OrderBy(n => n.Id, StringComparer.Ordinal).ToArray();
        return configured.Length > 0 || discovering
            ? configured
            : [.. Enumerable.Range(1, settings.DefaultNodeCount)
                .Select(i => new NodeRecord($"node{i}", FolderKind, new FolderNode($"node{i}", Path.Combine(settings.DataPath, "nodes", $"node{i}")).Address, now))];
    }

    [GeneratedRegex("^node[0-9]+$", RegexOptions.IgnoreCase)]
    private static partial Regex S3NodeName();
}
