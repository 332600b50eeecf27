namespace Storage.Tests.Fixtures;

/// <summary>Several real S3 server processes (s3rver standing in for MinIO), as a gateway's <c>node1</c>…<c>nodeN</c>.</summary>
public sealed class S3NodeCluster : IAsyncDisposable
{
    private S3NodeCluster(S3Server[] servers) => Servers = servers;

    public IReadOnlyList<S3Server> Servers { get; }

    /// <summary>The gateway settings naming every server as a node (<c>ConnectionStrings:node1</c> …).</summary>
    public Dictionary<string, string> Settings =>
        Servers.Select((server, i) => (Key: $"ConnectionStrings:{NodeId(i)}", Value: server.ConnectionString)).ToDictionary(p => p.Key, p => p.Value);

    public static async Task<S3NodeCluster> StartAsync(int count) =>
        new(await Task.WhenAll(Enumerable.Range(0, count).Select(_ => S3Server.StartAsync())));

    public static string NodeId(int index) => $"node{index + 1}";

    public S3Server this[string nodeId] => Servers[int.Parse(nodeId.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture) - 1];

    public async ValueTask DisposeAsync()
    {
        foreach (var server in Servers)
        {
            await server.DisposeAsync();
        }
    }
}
