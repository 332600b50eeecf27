namespace Storage.Gateway.Nodes.Discovery;

/// <summary>A source of nodes that are found rather than configured; start-up waits for its first look.</summary>
public interface INodeDiscovery
{
    /// <summary>Registers the nodes found now. Never throws for an unreachable source: it reports it and looks again later.</summary>
    Task DiscoverAsync(CancellationToken cancellationToken);
}
