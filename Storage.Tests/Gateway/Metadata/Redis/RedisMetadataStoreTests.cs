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

    [Fact]
    public async Task A_store_of_the_layout_before_slots_is_upgraded_in_place_and_keeps_everything()
    {
        // The keys as the version before slots wrote them, straight under the prefix.
        var prefix = $"old-{Guid.NewGuid():N}:";
        var db = _connection.GetDatabase();
        var created = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var record = TestData.Record("b", "k", 100, created);
        var replaced = new ReclaimEntry("old-version", [new PartLocation("node1", "p/old", 40)], created, Accounted: true);
        var moved = new ReclaimEntry("move-1", [new PartLocation("node2", "p/moved", 60)], created, Accounted: true, "b", "k");
        await db.HashSetAsync(prefix + "buckets", "b", created.ToUnixTimeMilliseconds());
        await db.HashSetAsync(prefix + "objects:b", "k", MetadataJsonContext.Serialize(record));
        await db.SortedSetAddAsync(prefix + "keys:b", "k", 0);
        foreach (var entry in new[] { replaced, moved })
        {
            await db.HashSetAsync(prefix + "reclaims", entry.Id, MetadataJsonContext.Serialize(entry));
            await db.SortedSetAddAsync(prefix + "reclaims:due", entry.Id, entry.Due.ToUnixTimeMilliseconds());
        }

        await db.HashSetAsync(prefix + "usage:bytes", [new("node1", 140), new("node2", 60)]);
        await db.HashSetAsync(prefix + "usage:parts", [new("node1", 2), new("node2", 1)]);
        await db.HashSetAsync(prefix + "node-epochs", "node1", "e1");
        await db.HashSetAsync(prefix + "node-verified", "node1", "e1");

        var store = new RedisMetadataStore(_connection, prefix);
        await store.InitializeAsync(default);
        await store.InitializeAsync(default);

        Assert.Equal(created, (await store.GetBucketAsync("b", default))!.CreatedAt);
        Assert.Equal(["b"], (await store.ListBucketsAsync(default)).Select(b => b.Name));
        Assert.Equal(record.ETag, (await store.GetObjectAsync("b", "k", default))!.ETag);
        Assert.Equal(["k"], (await store.ListObjectsAsync("b", "", null, 10, default)).Select(o => o.Key));
        Assert.Equal(("e1", "e1"), (await store.GetNodeEpochsAsync(default))["node1"] is var epoch ? (epoch.Epoch, epoch.Verified) : default);
        Assert.Equal(140, (await store.GetNodeUsageAsync(default))["node1"].BytesUsed);

        // Every reclaim entry is still due, and completing it is counted once, in the slot it now lives in.
        var due = await store.GetDueReclaimsAsync(created.AddDays(1), 10, default);
        Assert.Equal(["move-1", "old-version"], due.Select(e => e.Id).Order());
        foreach (var entry in due)
        {
            await store.CompleteReclaimAsync(entry, default);
        }

        Assert.Empty(await store.GetDueReclaimsAsync(created.AddDays(1), 10, default));
        var usage = await store.GetNodeUsageAsync(default);
        Assert.Equal((100, 1), (usage["node1"].BytesUsed, usage["node1"].PartCount));
        Assert.Equal((0, 0), (usage["node2"].BytesUsed, usage["node2"].PartCount));

        // Nothing is left under the old names, and the store takes writes in its new layout.
        foreach (var old in new[] { "objects:b", "keys:b", "reclaims", "reclaims:due", "usage:bytes", "usage:parts", "node-epochs", "node-verified" })
        {
            Assert.False(await db.KeyExistsAsync(prefix + old), old);
        }

        await store.CommitObjectAsync(TestData.Record("b", "new", 10, created), created, default);
        Assert.Equal(2, (await store.ListObjectsAsync("b", "", null, 10, default)).Count);
    }

    [Fact]
    public async Task An_upgrade_never_overwrites_a_key_already_in_its_new_place()
    {
        var prefix = $"mixed-{Guid.NewGuid():N}:";
        var db = _connection.GetDatabase();
        await db.HashSetAsync(prefix + "buckets", "b", 1);
        await db.HashSetAsync(prefix + "objects:b", "old", "{}");
        await db.HashSetAsync(prefix + "{b}:objects:b", "new", "{}");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new RedisMetadataStore(_connection, prefix).InitializeAsync(default));
        Assert.Contains("Both", error.Message, StringComparison.Ordinal);
        Assert.True(await db.HashExistsAsync(prefix + "{b}:objects:b", "new"));
        Assert.True(await db.HashExistsAsync(prefix + "objects:b", "old"));
    }

    [Fact]
    public async Task Inline_bytes_have_a_field_of_their_own_that_listings_never_fetch_and_deletes_remove()
    {
        var prefix = $"inline-{Guid.NewGuid():N}:";
        var store = new RedisMetadataStore(_connection, prefix);
        await store.InitializeAsync(default);
        await store.CreateBucketAsync(new BucketRecord("b", DateTimeOffset.UnixEpoch), default);
        const string Key = "dir/ключ 🙂";
        var bytes = TestData.Bytes(4100, 4);
        await store.CommitObjectAsync(TestData.Record("b", Key, 4096) with { Segments = [], Inline = bytes }, DateTimeOffset.UtcNow, default);

        var db = _connection.GetDatabase();
        var hash = $"{prefix}{{b}}:objects:b";
        var records = await db.HashGetAllAsync(hash);
        Assert.DoesNotContain("inline", Assert.Single(records, f => f.Name == Key).Value.ToString(), StringComparison.Ordinal);
        var field = Assert.Single(records, f => ((byte[])f.Name!)[0] == 0xFF);
        Assert.Equal([0xFF, .. System.Text.Encoding.UTF8.GetBytes(Key)], (byte[])field.Name!);
        Assert.Equal(bytes, (byte[])field.Value!);
        Assert.Equal(bytes, (await store.GetObjectAsync("b", Key, default))!.Inline);
        Assert.Null(Assert.Single(await store.ListObjectsAsync("b", "", null, 10, default)).Inline);

        // Overwritten by a version on the nodes, the field goes; deleted, nothing is left; a field some older gateway
        // left behind neither shadows a record nor outlives its bucket.
        await store.CommitObjectAsync(TestData.Record("b", Key, 10), DateTimeOffset.UtcNow, default);
        Assert.Single(await db.HashGetAllAsync(hash));
        await store.CommitObjectAsync(TestData.Record("b", Key, 4096) with { Segments = [], Inline = bytes }, DateTimeOffset.UtcNow, default);
        await store.DeleteObjectAsync("b", Key, DateTimeOffset.UtcNow, default);
        Assert.Empty(await db.HashGetAllAsync(hash));

        await store.CommitObjectAsync(TestData.Record("b", Key, 10), DateTimeOffset.UtcNow, default);
        await db.HashSetAsync(hash, field.Name, bytes);
        Assert.Null((await store.GetObjectAsync("b", Key, default))!.Inline);
        await store.DeleteObjectAsync("b", Key, DateTimeOffset.UtcNow, default);
        await db.HashSetAsync(hash, field.Name, bytes);
        Assert.Equal(BucketDeleteResult.Deleted, await store.DeleteBucketAsync("b", default));
        Assert.False(await db.KeyExistsAsync(hash));
    }

    [Fact]
    public async Task A_layout_newer_than_this_version_is_refused()
    {
        var prefix = $"new-{Guid.NewGuid():N}:";
        await _connection.GetDatabase().StringSetAsync(prefix + "layout", "99");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new RedisMetadataStore(_connection, prefix).InitializeAsync(default));
        Assert.Contains("layout 99", error.Message, StringComparison.Ordinal);
    }
}
