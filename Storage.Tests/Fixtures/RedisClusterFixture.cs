namespace Storage.Tests.Fixtures;

/// <summary>One three-master Redis Cluster shared by a test class; each test uses its own hash-tagged key prefix.</summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    public RedisClusterGroup Cluster { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Cluster = await RedisClusterGroup.StartAsync();

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();
}
