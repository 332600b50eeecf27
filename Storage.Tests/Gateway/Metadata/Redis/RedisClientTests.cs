using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

/// <summary>
/// The Redis connection as the gateway configures it (StackExchange.Redis through <see cref="RedisClient"/>), against
/// real redis-server processes: passwords, TLS with a private CA, and every way of not reaching Redis failing fast as
/// metadata unavailable, never hanging and never echoing the password.
/// </summary>
public sealed class RedisClientTests
{
    [Fact]
    public async Task The_right_password_works_and_a_wrong_one_fails_without_echoing_it()
    {
        await using var server = await RedisServer.StartAsync(password: "s3cret-pass");
        await using (var good = await RedisClient.ConnectAsync(server.ConnectionString))
        {
            await StoreOf(good).CreateBucketAsync(new BucketRecord("with-password", DateTimeOffset.UnixEpoch), default);
        }

        await using var wrong = await RedisClient.ConnectAsync($"127.0.0.1:{server.Port},password=not-the-password,connectTimeout=1000");
        var error = await Assert.ThrowsAsync<RedisUnavailableException>(() => StoreOf(wrong).PingAsync(default));
        Assert.DoesNotContain("not-the-password", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_works_with_a_trusted_ca_and_is_refused_otherwise()
    {
        using var tls = new RedisTls();
        await using var server = await RedisServer.StartAsync(tls: tls);
        await using (var trusted = await RedisClient.ConnectAsync($"localhost:{server.Port},ssl=true,sslCa={tls.CaPath}"))
        {
            var store = StoreOf(trusted);
            await store.CreateBucketAsync(new BucketRecord("over-tls", DateTimeOffset.UnixEpoch), default);
            Assert.NotNull(await store.GetBucketAsync("over-tls", default));
        }

        foreach (var refused in new[]
        {
            $"localhost:{server.Port},ssl=true,connectTimeout=1000",
            $"localhost:{server.Port},ssl=true,sslHost=redis.example.com,sslCa={tls.CaPath},connectTimeout=1000",
            $"localhost:{server.Port},connectTimeout=1000,syncTimeout=1000,asyncTimeout=1000",
        })
        {
            await using var connection = await RedisClient.ConnectAsync(refused);
            await Assert.ThrowsAsync<RedisUnavailableException>(() => StoreOf(connection).PingAsync(default));
        }
    }

    [Fact]
    public async Task An_unreachable_server_fails_fast()
    {
        await using var server = await RedisServer.StartAsync();
        await server.StopAsync();
        await using var connection = await RedisClient.ConnectAsync($"127.0.0.1:{server.Port},connectTimeout=1000");
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<RedisUnavailableException>(() => StoreOf(connection).GetBucketAsync("any", default));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_instead_of_hanging()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        await using var connection = await RedisClient.ConnectAsync($"127.0.0.1:{port},connectTimeout=500,syncTimeout=500,asyncTimeout=500");
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<RedisUnavailableException>(() => StoreOf(connection).PingAsync(default));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(4));
    }

    [Fact]
    public async Task Cancellation_stops_waiting()
    {
        await using var server = await RedisServer.StartAsync();
        await using var connection = await RedisClient.ConnectAsync(server.ConnectionString);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => StoreOf(connection).PingAsync(cancelled.Token));
        await StoreOf(connection).PingAsync(default);
    }

    [Theory]
    [InlineData("localhost:6380", "localhost:6380", null, 0, 0)]
    [InlineData("redis.internal:6379,password=p@ss=word,ssl=true,sslCa=/etc/ca.pem", "redis.internal:6379,password=p@ss=word,ssl=true", "/etc/ca.pem", 0, 0)]
    [InlineData("s1:26379,s2:26379,serviceName=storage,waitReplicas=1", "s1:26379,s2:26379,serviceName=storage", null, 1, 1000)]
    [InlineData("r:6379,WAITREPLICAS=2,waitTimeout=250", "r:6379", null, 2, 250)]
    public void The_products_own_keys_are_taken_off_an_aspire_connection_string(string text, string stackExchange, string? caPath, int replicas, int timeoutMs)
    {
        var settings = RedisClient.Parse(text);
        Assert.Equal(stackExchange, settings.StackExchange);
        Assert.Equal(caPath, settings.CaPath);
        Assert.Equal(replicas == 0 ? null : new ReplicaAcknowledgement(replicas, TimeSpan.FromMilliseconds(timeoutMs)), settings.Acknowledgement);
    }

    [Theory]
    [InlineData("r:6379,waitReplicas=0")]
    [InlineData("r:6379,waitReplicas=two")]
    [InlineData("r:6379,waitReplicas=1,waitTimeout=-5")]
    public void A_wait_setting_that_is_not_a_positive_number_is_refused(string text) =>
        Assert.Contains("positive whole number", Assert.Throws<FormatException>(() => RedisClient.Parse(text)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("r:6379,waitReplicas=1,waitTimeout=5000")]
    [InlineData("r:6379,asyncTimeout=800,waitReplicas=1")]
    public void A_wait_as_long_as_the_command_timeout_is_refused(string text) =>
        Assert.Contains("shorter than its command timeout", Assert.Throws<FormatException>(() => RedisClient.Parse(text)).Message, StringComparison.Ordinal);

    private static RedisMetadataStore StoreOf(StackExchange.Redis.IConnectionMultiplexer connection) => new(connection, $"client-{Guid.NewGuid():N}:");
}
