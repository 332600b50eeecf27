using StackExchange.Redis;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>The same contract the SQLite store passes, against a real redis-server.</summary>
public sealed class RedisMetadataStoreTests(RedisFixture redis) : MetadataStoreContract, IClassFixture<RedisFixture>, IAsyncLifetime
{
    private ConnectionMultiplexer _connection = null!;

    public async ValueTask InitializeAsync() => _connection = await RedisClient.ConnectAsync(redis.Server.ConnectionString);

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    protected override async Task<IMetadataStore> CreateStoreAsync()
    {
        var store = new RedisMetadataStore(_connection, $"test-{Guid.NewGuid():N}:");
        await store.InitializeAsync(default);
        return store;
    }

    [Fact]
    public async Task Metadata_survives_redis_crashing_and_restarting()
    {
        await using var server = await RedisServer.StartAsync(persistent: true);
        await using var connection = await RedisClient.ConnectAsync(server.ConnectionString);
        var store = new RedisMetadataStore(connection);
        await store.CreateBucketAsync(new BucketRecord("kept", DateTimeOffset.UnixEpoch), default);
        await store.AddNodeAsync(new NodeRecord("node1", "folder", "/srv/1", DateTimeOffset.UnixEpoch), default);

        await server.CrashAndRestartAsync();

        // The same multiplexer recovers: commands fail fast (503) while it reconnects, then succeed.
        BucketRecord? bucket = null;
        for (var attempt = 0; attempt < 50 && bucket is null; attempt++)
        {
            try
            {
                bucket = await store.GetBucketAsync("kept", default);
            }
            catch (RedisUnavailableException)
            {
                await Task.Delay(100);
            }
        }

        Assert.NotNull(bucket);
        Assert.Equal("node1", Assert.Single(await store.ListNodesAsync(default)).Id);
    }
}
