using StackExchange.Redis;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// How the gateway talks to Redis, through StackExchange.Redis: <c>ConnectionStrings:redis</c> in its format (what
/// Aspire publishes: <c>host:port,password=…[,ssl=true][,sslHost=…]</c>; Sentinel: the sentinels' endpoints and
/// <c>serviceName=…</c>), plus keys of this product's own, taken off before StackExchange.Redis sees the string:
/// <list type="bullet">
/// <item><c>sslCa=&lt;PEM file&gt;</c>: a private CA to trust for the server's certificate (it becomes
/// <c>TrustIssuer</c>; the host name is still checked);</item>
/// <item><c>waitReplicas=N</c> (and <c>waitTimeout=ms</c>, default 1000): every metadata write waits until N replicas
/// have it (Redis' <c>WAIT</c>) before it counts as done, so a failover to one of them loses nothing acknowledged.</item>
/// </list>
/// The choices, made once for the Aspire registration and for tools alike:
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
    private const string WaitReplicasKey = "waitReplicas";
    private const string WaitTimeoutKey = "waitTimeout";
    private static readonly TimeSpan DefaultWaitTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Takes this product's keys off a connection string.</summary>
    /// <exception cref="FormatException"><c>waitReplicas</c> or <c>waitTimeout</c> is not a positive whole number, or the wait is not shorter than the command timeout.</exception>
    public static RedisConnectionSettings Parse(string connectionString)
    {
        string? caPath = null;
        int? replicas = null;
        var timeout = DefaultWaitTimeout;
        var kept = new List<string>();
        foreach (var part in connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = part.IndexOf('=') is var equals and > 0 ? (part[..equals], part[(equals + 1)..]) : (part, string.Empty);
            if (key.Equals(CaKey, StringComparison.OrdinalIgnoreCase))
            {
                caPath = value;
            }
            else if (key.Equals(WaitReplicasKey, StringComparison.OrdinalIgnoreCase))
            {
                replicas = PositiveNumber(key, value);
            }
            else if (key.Equals(WaitTimeoutKey, StringComparison.OrdinalIgnoreCase))
            {
                timeout = TimeSpan.FromMilliseconds(PositiveNumber(key, value));
            }
            else
            {
                kept.Add(part);
            }
        }

        var stackExchange = string.Join(',', kept);
        if (replicas is not null && ConfigurationOptions.Parse(stackExchange).AsyncTimeout is var commandTimeout && timeout.TotalMilliseconds >= commandTimeout)
        {
            // WAIT holds the connection: one that outlasts the command timeout fails, and times out what queued behind it.
            throw new FormatException($"The Redis connection string's '{WaitTimeoutKey}' ({timeout.TotalMilliseconds:0} ms) must be shorter than its command timeout (asyncTimeout, {commandTimeout} ms).");
        }

        return new RedisConnectionSettings(stackExchange, caPath, replicas is { } n ? new ReplicaAcknowledgement(n, timeout) : null);
    }

    public static void Configure(ConfigurationOptions options, RedisConnectionSettings settings)
    {
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.Protocol = RedisProtocol.Resp2;
        if (settings.CaPath is not null)
        {
            options.TrustIssuer(settings.CaPath);
        }
    }

    /// <summary>A multiplexer configured as the gateway's, for tools and tests that run without the host.</summary>
    public static async Task<ConnectionMultiplexer> ConnectAsync(RedisConnectionSettings settings)
    {
        var options = ConfigurationOptions.Parse(settings.StackExchange);
        Configure(options, settings);
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <inheritdoc cref="ConnectAsync(RedisConnectionSettings)"/>
    public static Task<ConnectionMultiplexer> ConnectAsync(string connectionString) => ConnectAsync(Parse(connectionString));

    private static int PositiveNumber(string key, string value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new FormatException($"The Redis connection string's '{key}' must be a positive whole number, not '{value}'.");
}

/// <summary>A Redis connection string taken apart: StackExchange.Redis' part, and what this product adds to it.</summary>
public sealed record RedisConnectionSettings(string StackExchange, string? CaPath, ReplicaAcknowledgement? Acknowledgement);

/// <summary>Metadata writes count as done once <see cref="Replicas"/> replicas have them, or fail as unavailable after <see cref="Timeout"/>.</summary>
public sealed record ReplicaAcknowledgement(int Replicas, TimeSpan Timeout);

/// <summary>Redis could not be reached, refused the command or did not answer in time: metadata is unavailable (503).</summary>
public sealed class RedisUnavailableException(string message, Exception? inner = null) : StorageUnavailableException(message, inner);
