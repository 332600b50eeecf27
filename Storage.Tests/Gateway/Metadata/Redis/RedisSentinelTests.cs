using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>
/// Metadata on Redis Sentinel (a primary, two replicas, three sentinels, all real processes). The store follows a
/// failover by itself. The replicas are frozen for a moment before the primary is killed, so the writes of that
/// moment reach no replica: with <c>waitReplicas=1</c> none of them was acknowledged and nothing acknowledged is lost.
/// (Without the setting such writes are acknowledged and usually lost, but not always: the kernel's socket buffers
/// can hold the replication stream until the frozen replica wakes, so that is not asserted.)
/// </summary>
public sealed class RedisSentinelTests
{
    [Fact]
    public async Task A_failover_loses_no_acknowledged_commit_when_writes_wait_for_a_replica()
    {
        await using var group = await RedisSentinelGroup.StartAsync();
        var settings = RedisClient.Parse(group.ConnectionString + ",waitReplicas=1,connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000");
        await using var connection = await RedisClient.ConnectAsync(settings);
        var store = new RedisMetadataStore(connection, acknowledgement: settings.Acknowledgement);
        await store.CreateBucketAsync(new BucketRecord("failover", DateTimeOffset.UnixEpoch), default);

        var acknowledged = new ConcurrentBag<string>();
        var afterFailover = 0;
        var failedOver = false;
        var refused = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var writers = Enumerable.Range(0, 8).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"w{writer}/{i:D6}";
                try
                {
                    await store.CommitObjectAsync(TestData.Record("failover", key), DateTimeOffset.UtcNow.AddMinutes(5), default);
                    acknowledged.Add(key);
                    if (Volatile.Read(ref failedOver) && Interlocked.Increment(ref afterFailover) >= 200)
                    {
                        await stop.CancelAsync();
                    }
                }
                catch (RedisUnavailableException)
                {
                    // Not acknowledged (a 503 at the gateway); the writer moves on.
                    Interlocked.Increment(ref refused);
                    await Task.Delay(50);
                }
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.NotEmpty(acknowledged);
        await group.SignalReplicasAsync("STOP");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await group.Primary.StopAsync();
        await group.SignalReplicasAsync("CONT");
        Volatile.Write(ref failedOver, true);
        await Task.WhenAll(writers);

        Assert.True(afterFailover >= 200, $"Only {afterFailover} commits succeeded after the primary was killed: the store did not follow the failover.");
        var promotedReplica = await group.PromotedReplicaAsync();

        // Read from the promoted replica directly, not through the sentinels.
        await using var promoted = await RedisClient.ConnectAsync(promotedReplica.ConnectionString);
        var survivor = new RedisMetadataStore(promoted);
        var lost = new List<string>();
        foreach (var key in acknowledged)
        {
            if (await survivor.GetObjectAsync("failover", key, default) is null)
            {
                lost.Add(key);
            }
        }

        Assert.True(refused > 0, "no write went unconfirmed while the replicas were frozen, so this test proves nothing");
        Assert.True(lost.Count == 0, $"{lost.Count} of {acknowledged.Count} acknowledged commits were lost in the failover ({refused} refused meanwhile): {string.Join(", ", lost.Take(10))}");
    }

    /// <summary>
    /// With the replicas frozen every write's WAIT runs to its timeout; reads, on a connection of their own as the
    /// gateway registers them, must not queue behind those WAITs.
    /// </summary>
    [Fact]
    public async Task Reads_stay_prompt_while_writes_wait_for_replicas_that_do_not_answer()
    {
        await using var group = await RedisSentinelGroup.StartAsync();
        var settings = RedisClient.Parse(group.ConnectionString + ",waitReplicas=1");
        await using var reads = await RedisClient.ConnectAsync(settings);
        await using var writes = await RedisClient.ConnectAsync(settings);
        var store = new RedisMetadataStore(reads, acknowledgement: settings.Acknowledgement, writes: writes);
        await store.CreateBucketAsync(new BucketRecord("prompt", DateTimeOffset.UnixEpoch), default);
        await store.CommitObjectAsync(TestData.Record("prompt", "read-me"), DateTimeOffset.UtcNow.AddMinutes(5), default);

        await group.SignalReplicasAsync("STOP");
        try
        {
            using var stop = new CancellationTokenSource();
            var refused = 0;
            var writers = Enumerable.Range(0, 4).Select(writer => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        await store.CommitObjectAsync(TestData.Record("prompt", $"w{writer}/{i}"), DateTimeOffset.UtcNow.AddMinutes(5), default);
                    }
                    catch (RedisUnavailableException)
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            })).ToArray();

            await Task.Delay(TimeSpan.FromMilliseconds(300));
            var slowest = TimeSpan.Zero;
            for (var i = 0; i < 20; i++)
            {
                var clock = Stopwatch.StartNew();
                Assert.NotNull(await store.GetObjectAsync("prompt", "read-me", default));
                slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, clock.Elapsed.Ticks));
                await Task.Delay(50);
            }

            await stop.CancelAsync();
            await Task.WhenAll(writers);
            Assert.True(refused > 0, "no write waited in vain: the replicas were not cut off, so this test proves nothing");
            Assert.True(slowest < TimeSpan.FromMilliseconds(300), $"a read took {slowest.TotalMilliseconds:0} ms while writes waited for replicas");
        }
        finally
        {
            await group.SignalReplicasAsync("CONT");
        }
    }

    /// <summary>The gateway as Aspire registers Redis (<c>AddRedisClient</c>) on a Sentinel connection string: healthy, serving, and serving again after a failover.</summary>
    [Fact]
    public async Task The_gateway_on_sentinel_serves_before_and_after_a_failover()
    {
        await using var group = await RedisSentinelGroup.StartAsync();
        using var nodes = new TempDirectory("sentinel-nodes");
        var settings = Enumerable.Range(1, 8).ToDictionary(i => $"Storage:Nodes:node{i}", i => Path.Combine(nodes.Path, $"node{i}"));
        settings["ConnectionStrings:redis"] = group.ConnectionString + ",waitReplicas=1";
        await using var gateway = await GatewayHost.StartAsync(settings);

        var before = TestData.Bytes(100_000, 1);
        (await gateway.Client.PutAsync("/object/before", new ByteArrayContent(before))).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/health")).StatusCode);

        await group.Primary.StopAsync();
        await group.PromotedReplicaAsync();
        var after = TestData.Bytes(100_000, 2);
        HttpStatusCode status = default;
        for (var attempt = 0; attempt < 100 && status != HttpStatusCode.OK; attempt++)
        {
            // During the failover a PUT is refused with 503 (metadata unavailable), never 500.
            status = (await gateway.Client.PutAsync("/object/after", new ByteArrayContent(after))).StatusCode;
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"PUT during the failover answered {(int)status}");
            if (status != HttpStatusCode.OK)
            {
                await Task.Delay(200);
            }
        }

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(before, await gateway.Client.GetByteArrayAsync("/object/before"));
        Assert.Equal(after, await gateway.Client.GetByteArrayAsync("/object/after"));
    }
}
