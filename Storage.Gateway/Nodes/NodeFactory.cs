using Storage.Gateway.Metadata;

namespace Storage.Gateway.Nodes;

/// <summary>Turns a registry record into a node client. Only folders exist in the embedded default.</summary>
public sealed class NodeFactory
{
    public const string FolderKind = "folder";

    public IStorageNode Create(NodeRecord record) => record.Kind switch
    {
        FolderKind => new FolderNode(record.Id, record.Address),
        _ => throw new NotSupportedException($"Node '{record.Id}' has kind '{record.Kind}', which this gateway cannot open."),
    };
}
