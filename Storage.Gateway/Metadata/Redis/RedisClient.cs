using StackExchange.Redis;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// How the gateway talks to Redis, through StackExchange.Redis: <c>ConnectionStrings:redis</c> in its format (what
/// Aspire publishes: <c>host:port,password=…[,ssl=true][,sslHost=…]</c>), plus <c>sslCa=&lt;PEM file&gt;</c>, a private
/// CA to trust for the server's certificate (not a StackExchange.Redis key; it becomes <c>TrustIssuer</c>, and the
/// host name is still checked). The choices, made once for the Aspire registration and for tools alike:
/// <list type="bullet">
/// <item>start while Redis is away and reconnect by itself (<c>AbortOnConnectFail = false</c>);</item>
/// <item>fail fast while disconnected (<c>BacklogPolicy.FailFast</c>): a PUT gets a prompt 503 with the reason rather
/// than waiting in a backlog, and clients retry;</item>
/// <item>RESP2: every command here is served alike by RESP3, and RESP2 also works with older servers and proxies;</item>
/// <item>StackExchange.Redis' timeouts (5 s to connect, 5 s per command) unless the connection string names others.</item>
/// </list>
/// </summary>
public static class RedisClient
{
    private const string CaKey = "sslCa";

    /// <summary>The connection string without <c>sslCa</c>, and that CA file's path.</summary>
    public static (string ConnectionString, string? CaPath) Split(string connectionString)
    {
        string? caPath = null;
        var kept = new List<string>();
        foreach (var part in connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith(CaKey + "=", StringComparison.OrdinalIgnoreCase))
            {
                caPath = part[(CaKey.Length + 1)..];
            }
            else
            {
                kept.Add(part);
            }
        }

        return (string.Join(',', kept), caPath);
    }

    public static void Configure(ConfigurationOptions options, string? caPath)
    {
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.Protocol = RedisProtocol.Resp2;
        if (caPath is not null)
        {
            options.TrustIssuer(caPath);
        }
    }

    /// <summary>A multiplexer configured as the gateway's, for tools and tests that run without the host.</summary>
    public static async Task<ConnectionMultiplexer> ConnectAsync(string connectionString)
    {
        var (stackExchange, caPath) = Split(connectionString);
        var options = ConfigurationOptions.Parse(stackExchange);
        Configure(options, caPath);
        return await ConnectionMultiplexer.ConnectAsync(options);
    }
}

/// <summary>Redis could not be reached, refused the command or did not answer in time: metadata is unavailable (503).</summary>
public sealed class RedisUnavailableException(string message, Exception? inner = null) : StorageUnavailableException(message, inner);
