using System.Collections.Concurrent;

namespace Storage.Gateway.Nodes.Discovery;

/// <summary>
/// The S3 nodes a discovery found, with the address and keys it read: where <see cref="NodeFactory"/> finds the
/// connection of a node that has no connection string. Held in memory only; keys are never stored in metadata.
/// </summary>
public sealed class DiscoveredNodes
{
    private readonly ConcurrentDictionary<string, S3NodeOptions> _nodes = new(StringComparer.Ordinal);

    public bool TryGet(string id, out S3NodeOptions options) => _nodes.TryGetValue(id, out options!);

    /// <summary>Forgets the node's connection (its container stopped: its address may go to another container).</summary>
    public void Remove(string id) => _nodes.TryRemove(id, out _);

    /// <summary>Records the node's connection; true when it is new or changed (a recreated container's new address or keys).</summary>
    public bool Set(string id, S3NodeOptions options)
    {
        var changed = true;
        _nodes.AddOrUpdate(id, options, (_, current) =>
        {
            changed = current != options;
            return options;
        });
        return changed;
    }
}
