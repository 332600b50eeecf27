namespace Storage.Gateway.Nodes;

/// <summary>
/// A storage node is a dumb store of parts (shards) under keys. All intelligence — striping, placement,
/// healing — lives in the gateway, so a node only needs these operations.
/// </summary>
public interface IStorageNode
{
    string Id { get; }

    /// <summary>Where the node lives: a folder path or an endpoint URL (never credentials).</summary>
    string Address { get; }

    /// <summary>Prepares the node's storage (its folder or bucket); called when the node is registered.</summary>
    Task CreateAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="content"/> (read to its end) under <paramref name="key"/>, atomically: readers see
    /// the old part or the complete new one, never a prefix. <paramref name="length"/> is the exact length
    /// when known, otherwise -1.
    /// </summary>
    Task PutAsync(string key, Stream content, long length, CancellationToken cancellationToken);

    /// <summary>Opens the part for reading from <paramref name="offset"/>; the stream yields at least <paramref name="length"/> bytes unless the part is shorter.</summary>
    /// <exception cref="PartNotFoundException">The part does not exist.</exception>
    Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken);

    /// <summary>Removes the part; removing a missing part is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    IAsyncEnumerable<PartInfo> ListAsync(string prefix, CancellationToken cancellationToken);

    Task<PartInfo?> StatAsync(string key, CancellationToken cancellationToken);

    /// <summary>Checks that the node answers and reports its capacity (null when it cannot tell); throws when it does not answer.</summary>
    Task<NodeCapacity?> ProbeAsync(CancellationToken cancellationToken);
}

public sealed record PartInfo(string Key, long Length, DateTimeOffset LastModified);

public sealed record NodeCapacity(long TotalBytes, long FreeBytes);

public sealed class PartNotFoundException(string nodeId, string key)
    : IOException($"Part '{key}' does not exist on node '{nodeId}'.");
