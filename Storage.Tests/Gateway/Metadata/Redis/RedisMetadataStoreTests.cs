using Microsoft.Extensions.Logging.Abstractions;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>The same contract the SQLite store passes, against a real redis-server.</summary>
public sealed class RedisMetadataStoreTests(RedisFixture redis) : MetadataStoreContract, IClassFixture<RedisFixture>, IAsyncLifetime
{
    private RedisConnection _connection = null!;

    public ValueTask InitializeAsync()
    {
        _connection = new RedisConnection(RedisOptions.Parse(redis.Server.ConnectionString), NullLogger.Instance);
        return ValueTask.CompletedTask;
    }

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
        await using var connection = new RedisConnection(RedisOptions.Parse(server.ConnectionString), NullLogger.Instance);
        var store = new RedisMetadataStore(connection);
        await store.CreateBucketAsync(new BucketRecord("kept", DateTimeOffset.UnixEpoch), default);
        await store.AddNodeAsync(new NodeRecord("node1", "folder", "/srv/1", DateTimeOffset.UnixEpoch), default);

        await server.CrashAndRestartAsync();

        // The same connection object recovers: the first command after the crash may fail, later ones succeed.
        BucketRecord? bucket = null;
        for (var attempt = 0; attempt < 50 && bucket is null; attempt++)
        {
            try
            {
                bucket = await store.GetBucketAsync("kept", default);
            }
            catch (RedisConnectionException)
            {
                await Task.Delay(100);
            }
        }

        Assert.NotNull(bucket);
        Assert.Equal("node1", Assert.Single(await store.ListNodesAsync(default)).Id);
    }
}
