using StackExchange.Redis;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>
/// The metadata contract on a real three-master Redis Cluster, with a hash-tagged key prefix (every key in one slot,
/// so every script is legal there); and a prefix without a tag is refused before anything is written.
/// </summary>
public sealed class RedisClusterMetadataStoreTests(RedisClusterFixture redis) : MetadataStoreContract, IClassFixture<RedisClusterFixture>, IAsyncLifetime
{
    private ConnectionMultiplexer _connection = null!;

    public async ValueTask InitializeAsync() => _connection = await RedisClient.ConnectAsync(redis.Cluster.ConnectionString);

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    protected override async Task<IMetadataStore> CreateStoreAsync()
    {
        var store = new RedisMetadataStore(_connection, $"{{test-{Guid.NewGuid():N}}}:");
        await store.InitializeAsync(default);
        return store;
    }

    [Fact]
    public void The_client_sees_a_cluster_of_three_masters()
    {
        var masters = _connection.GetServers().Where(s => s.ServerType == ServerType.Cluster && !s.IsReplica).ToArray();
        Assert.Equal(3, masters.Length);
    }

    [Fact]
    public async Task A_prefix_without_a_hash_tag_is_refused_on_a_cluster_before_anything_is_written()
    {
        var store = new RedisMetadataStore(_connection, "untagged:");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(default));
        Assert.Contains("'{untagged}:'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Waiting_for_replicas_is_refused_on_a_cluster()
    {
        var store = new RedisMetadataStore(_connection, "{tagged}:", new ReplicaAcknowledgement(1, TimeSpan.FromSeconds(1)));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(default));
        Assert.Contains("waitReplicas", error.Message, StringComparison.Ordinal);
    }
}
