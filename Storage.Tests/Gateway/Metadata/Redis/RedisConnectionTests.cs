using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata.Redis;

public sealed class RedisConnectionTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task Thousands_of_concurrent_commands_are_pipelined_and_each_gets_its_own_reply()
    {
        await using var connection = Connect(redis.Server.ConnectionString);
        var key = $"counter-{Guid.NewGuid():N}";
        await Task.WhenAll(Enumerable.Range(0, 2000).Select(_ => Task.Run(() => connection.ExecuteAsync(default, "INCR", key))));
        Assert.Equal(2000, (await connection.ExecuteAsync(default, "GET", key)).AsInteger());

        var results = await Task.WhenAll(Enumerable.Range(0, 500).Select(async i =>
        {
            await connection.ExecuteAsync(default, "SET", $"{key}:{i}", $"value-{i}");
            return (i, (await connection.ExecuteAsync(default, "GET", $"{key}:{i}")).AsString());
        }));
        Assert.All(results, r => Assert.Equal($"value-{r.i}", r.Item2));
    }

    [Fact]
    public async Task Binary_values_and_nil_replies_round_trip()
    {
        await using var connection = Connect(redis.Server.ConnectionString);
        var key = $"bin-{Guid.NewGuid():N}";
        byte[] value = [0, 13, 10, 255, 36, 42, 43];
        await connection.ExecuteAsync(default, "SET", key, value);
        Assert.Equal(value, (await connection.ExecuteAsync(default, "GET", key)).Bytes);
        Assert.True((await connection.ExecuteAsync(default, "GET", key + "-missing")).IsNull);
        var error = await Assert.ThrowsAsync<RedisServerException>(() => connection.ExecuteAsync(default, "NOSUCHCOMMAND"));
        Assert.Contains("unknown command", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Auth_with_the_right_password_works_and_a_wrong_one_fails_without_echoing_it()
    {
        await using var server = await RedisServer.StartAsync(password: "s3cret-pass");
        await using (var good = Connect(server.ConnectionString))
        {
            Assert.Equal("PONG", (await good.ExecuteAsync(default, "PING")).AsString());
        }

        await using var wrong = Connect($"127.0.0.1:{server.Port},password=not-the-password");
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => wrong.ExecuteAsync(default, "PING"));
        Assert.DoesNotContain("not-the-password", error.ToString(), StringComparison.Ordinal);

        await using var none = Connect($"127.0.0.1:{server.Port}");
        var refused = await Assert.ThrowsAsync<RedisConnectionException>(() => none.ExecuteAsync(default, "GET", "x"));
        Assert.Contains("NOAUTH", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_connections_work_with_a_trusted_ca_and_are_refused_otherwise()
    {
        using var tls = new RedisTls();
        await using var server = await RedisServer.StartAsync(tls: tls);
        await using (var trusted = Connect($"localhost:{server.Port},ssl=true,sslCa={tls.CaPath}"))
        {
            await trusted.ExecuteAsync(default, "SET", "over-tls", "yes");
            Assert.Equal("yes", (await trusted.ExecuteAsync(default, "GET", "over-tls")).AsString());
        }

        await using var untrusted = Connect($"localhost:{server.Port},ssl=true");
        await Assert.ThrowsAsync<RedisConnectionException>(() => untrusted.ExecuteAsync(default, "PING"));

        await using var wrongName = Connect($"localhost:{server.Port},ssl=true,sslHost=redis.example.com,sslCa={tls.CaPath}");
        await Assert.ThrowsAsync<RedisConnectionException>(() => wrongName.ExecuteAsync(default, "PING"));

        await using var plaintext = Connect($"localhost:{server.Port},connectTimeout=1000,syncTimeout=1000");
        await Assert.ThrowsAsync<RedisConnectionException>(() => plaintext.ExecuteAsync(default, "PING"));
    }

    [Fact]
    public async Task An_unreachable_server_fails_fast_with_a_connection_error()
    {
        await using var server = await RedisServer.StartAsync();
        await server.StopAsync();
        await using var connection = Connect($"127.0.0.1:{server.Port},connectTimeout=1000");
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<RedisConnectionException>(() => connection.ExecuteAsync(default, "PING"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_instead_of_hanging()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        await using var connection = Connect($"127.0.0.1:{port},connectTimeout=500,syncTimeout=500");
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<RedisConnectionException>(() => connection.ExecuteAsync(default, "PING"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Cancellation_stops_waiting_for_a_reply()
    {
        await using var connection = Connect(redis.Server.ConnectionString);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.ExecuteAsync(cancelled.Token, "PING"));
        Assert.Equal("PONG", (await connection.ExecuteAsync(default, "PING")).AsString());
    }

    [Theory]
    [InlineData("localhost:6380", "localhost", 6380, null, false)]
    [InlineData("redis.internal:6379,password=p@ss=word,ssl=true", "redis.internal", 6379, "p@ss=word", true)]
    [InlineData("10.0.0.5", "10.0.0.5", 6379, null, false)]
    [InlineData("[::1]:7000,abortConnect=false", "::1", 7000, null, false)]
    public void Aspire_connection_strings_parse(string text, string host, int port, string? password, bool ssl)
    {
        var options = RedisOptions.Parse(text);
        Assert.Equal((host, port, password, ssl), (options.Host, options.Port, options.Password, options.Ssl));
        Assert.DoesNotContain(password ?? "\0", options.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("host:notaport")]
    [InlineData("host:6379,password")]
    public void Malformed_connection_strings_are_rejected(string text) =>
        Assert.Throws<FormatException>(() => RedisOptions.Parse(text));

    [Fact]
    public void Resp_decoder_waits_for_complete_replies_and_rejects_garbage()
    {
        var partial = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("*2\r\n$3\r\nfoo\r\n$3\r\nba"));
        Assert.False(Resp.TryRead(ref partial, out _));
        var complete = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("*2\r\n$3\r\nfoo\r\n:42\r\n+OK\r\n"));
        Assert.True(Resp.TryRead(ref complete, out var reply));
        Assert.Equal("foo", reply.AsArray()[0].AsString());
        Assert.Equal(42, reply.AsArray()[1].AsInteger());
        Assert.Equal(5, complete.Length);
        var garbage = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("?what\r\n"));
        Assert.Throws<RedisProtocolException>(() => Resp.TryRead(ref garbage, out _));
    }

    private static RedisConnection Connect(string connectionString) =>
        new(RedisOptions.Parse(connectionString), NullLogger.Instance);
}
