using StackExchange.Redis;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>
/// The metadata contract on a real three-master Redis Cluster with a plain key prefix, so each bucket lives in its own
/// hash slot and the buckets spread over the masters; and a prefix with its own hash tag keeps everything in one slot.
/// </summary>
public sealed class RedisClusterMetadataStoreTests(RedisClusterFixture redis) : MetadataStoreContract, IClassFixture<RedisClusterFixture>, IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);

    private ConnectionMultiplexer _connection = null!;

    public async ValueTask InitializeAsync() => _connection = await RedisClient.ConnectAsync(redis.Cluster.ConnectionString);

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    protected override async Task<IMetadataStore> CreateStoreAsync()
    {
        var store = new RedisMetadataStore(_connection, $"test-{Guid.NewGuid():N}:");
        await store.InitializeAsync(default);
        return store;
    }

    [Fact]
    public void The_client_sees_a_cluster_of_three_masters() => Assert.Equal(3, Masters().Length);

    [Fact]
    public async Task Buckets_spread_over_the_masters_with_their_uploads_and_reclaims_beside_them()
    {
        var prefix = $"spread-{Guid.NewGuid():N}:";
        var store = new RedisMetadataStore(_connection, prefix);
        await store.InitializeAsync(default);
        var buckets = Enumerable.Range(0, 12).Select(i => $"bucket-{i:D2}").ToArray();
        foreach (var bucket in buckets)
        {
            await store.CreateBucketAsync(new BucketRecord(bucket, Now), default);
            await store.CreateBucketAsync(new BucketRecord($".multipart.{bucket}", Now), default);
            var part = TestData.Record($".multipart.{bucket}", "p/1", 100, Now);
            await store.CommitObjectAsync(part, Now, default);
            await store.CommitObjectAsync(TestData.Record(bucket, "k", 100, Now), Now, default);

            // A completion: the companion's part becomes the object in one script, so the two share a slot.
            Assert.True(await store.CommitAssembledObjectAsync(TestData.Record(bucket, "k", 100, Now) with { Segments = part.Segments }, $".multipart.{bucket}", [new AssembledSource("p/1", part.Segments[0].Id)], Now, default));
        }

        // Each master holds some of the buckets' records (the slots are fixed by the names, so this is deterministic).
        var holding = new List<int>();
        foreach (var master in Masters())
        {
            var keys = new List<string>();
            await foreach (var key in master.KeysAsync(pattern: prefix + "{bucket-*}:objects:bucket-*"))
            {
                keys.Add(key!);
            }

            holding.Add(keys.Count);
        }

        Assert.Equal(buckets.Length, holding.Sum());
        Assert.All(holding, count => Assert.True(count > 0, $"a master holds no bucket: {string.Join(", ", holding)}"));

        // What spans the slots is merged: every bucket listed (companions too), every replaced version due, usage summed.
        Assert.Equal(buckets.Length * 2, (await store.ListBucketsAsync(default)).Count);
        Assert.Equal(buckets.Length, (await store.GetDueReclaimsAsync(Now, 100, default)).Count);
        Assert.Equal(2, (await store.GetDueReclaimsAsync(Now, 2, default)).Count);
        var live = 0L;
        foreach (var bucket in buckets)
        {
            live += (await store.ListObjectsAsync(bucket, "", null, 10, default)).Sum(o => o.Segments.Parts().Sum(p => p.Length));
        }

        var pending = (await store.GetDueReclaimsAsync(Now, 100, default)).Sum(e => e.Parts.Sum(p => p.Length));
        Assert.Equal(live + pending, (await store.GetNodeUsageAsync(default)).Values.Sum(u => u.BytesUsed));
    }

    [Fact]
    public async Task A_prefix_with_its_own_hash_tag_keeps_every_key_on_one_master()
    {
        var prefix = $"{{tagged-{Guid.NewGuid():N}}}:";
        var store = new RedisMetadataStore(_connection, prefix);
        await store.InitializeAsync(default);
        Assert.False(store.SpreadsOverSlots);
        foreach (var bucket in new[] { "one", "two", "three", "four" })
        {
            await store.CreateBucketAsync(new BucketRecord(bucket, Now), default);
            await store.CommitObjectAsync(TestData.Record(bucket, "k", 100, Now), Now, default);
        }

        var holding = new List<int>();
        foreach (var master in Masters())
        {
            var count = 0;
            await foreach (var _ in master.KeysAsync(pattern: prefix + "*"))
            {
                count++;
            }

            holding.Add(count);
        }

        Assert.Single(holding, count => count > 0);
    }

    [Fact]
    public async Task Waiting_for_replicas_is_refused_on_a_cluster()
    {
        var store = new RedisMetadataStore(_connection, "tagged:", new ReplicaAcknowledgement(1, TimeSpan.FromSeconds(1)));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(default));
        Assert.Contains("waitReplicas", error.Message, StringComparison.Ordinal);
    }

    private IServer[] Masters() => [.. _connection.GetServers().Where(s => s.ServerType == ServerType.Cluster && !s.IsReplica)];
}
