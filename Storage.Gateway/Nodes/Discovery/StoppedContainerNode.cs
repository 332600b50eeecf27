namespace Storage.Gateway.Nodes.Discovery;

/// <summary>
/// Stands in for a node whose container is stopped. Its last address is not probed: Docker hands a stopped container's
/// IP address to the next container that starts, and a probe there would take another server (empty, or another node's)
/// for this node. Every call fails like an unreachable node; the container's next start brings a real client back.
/// </summary>
public sealed class StoppedContainerNode(string id, string address) : IStorageNode
{
    public string Id { get; } = id;

    public string Address { get; } = address;

    public Task CreateAsync(CancellationToken cancellationToken) => throw Stopped();

    public Task PutAsync(string key, Stream content, long length, CancellationToken cancellationToken) => throw Stopped();

    public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken) => throw Stopped();

    public Task DeleteAsync(string key, CancellationToken cancellationToken) => throw Stopped();

    public IAsyncEnumerable<PartInfo> ListAsync(string prefix, CancellationToken cancellationToken) => throw Stopped();

    public Task<PartInfo?> StatAsync(string key, CancellationToken cancellationToken) => throw Stopped();

    public Task<NodeCapacity?> ProbeAsync(CancellationToken cancellationToken) => throw Stopped();

    private IOException Stopped() => new($"the container of node '{Id}' is stopped");
}
