namespace Storage.Tests.Fixtures;

/// <summary>
/// A real Redis Cluster on loopback: three masters (<c>redis-server --cluster-enabled yes</c>, AOF, fsync always)
/// joined by <c>redis-cli --cluster create</c>, the 16,384 hash slots split between them.
/// </summary>
public sealed class RedisClusterGroup : IAsyncDisposable
{
    private RedisClusterGroup(IReadOnlyList<RedisServer> masters) => Masters = masters;

    public IReadOnlyList<RedisServer> Masters { get; }

    /// <summary>Every master's endpoint, as a cluster client is given them (any one would do; all is sturdier).</summary>
    public string ConnectionString => string.Join(',', Masters.Select(m => $"127.0.0.1:{m.Port}"));

    public static async Task<RedisClusterGroup> StartAsync()
    {
        var masters = new List<RedisServer>();
        var group = new RedisClusterGroup(masters);
        try
        {
            for (var i = 0; i < 3; i++)
            {
                masters.Add(await RedisServer.StartAsync(clusterNode: true));
            }

            await CommandLine.RunCheckedAsync(
                "redis-cli",
                ["--cluster", "create", .. masters.Select(m => $"127.0.0.1:{m.Port}"), "--cluster-replicas", "0", "--cluster-yes"],
                new Dictionary<string, string?>(),
                TimeSpan.FromSeconds(60));
            await group.WaitUntilFormedAsync();
            return group;
        }
        catch
        {
            await group.DisposeAsync();
            throw;
        }
    }

    /// <summary>Every master reports the cluster as formed (all slots served), as clients need before they route.</summary>
    private Task WaitUntilFormedAsync() => Poll.UntilAsync(
        async () =>
        {
            var formed = true;
            foreach (var master in Masters)
            {
                var (_, info) = await CommandLine.RunAsync("redis-cli", ["-p", $"{master.Port}", "cluster", "info"], new Dictionary<string, string?>(), TimeSpan.FromSeconds(10));
                formed &= info.Contains("cluster_state:ok", StringComparison.Ordinal);
            }

            return formed;
        },
        TimeSpan.FromSeconds(30),
        "the Redis Cluster to reach cluster_state:ok");

    public async ValueTask DisposeAsync()
    {
        foreach (var master in Masters)
        {
            await master.DisposeAsync();
        }
    }
}
