using System.Globalization;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// A Redis endpoint as Aspire publishes it: <c>host:port[,password=…][,user=…][,ssl=true][,sslHost=…]</c>, plus the
/// StackExchange.Redis keys <c>connectTimeout</c>, <c>syncTimeout</c> and <c>defaultDatabase</c> (milliseconds /
/// index), and <c>sslCa</c>: a PEM file of a private CA to trust for the server certificate (the host name is
/// still checked). Unknown options are ignored, so Aspire-generated strings always parse.
/// </summary>
public sealed record RedisOptions(
    string Host,
    int Port,
    string? User = null,
    string? Password = null,
    bool Ssl = false,
    string? SslHost = null,
    string? SslCaPath = null,
    int Database = 0,
    TimeSpan? ConnectTimeout = null,
    TimeSpan? CommandTimeout = null)
{
    public const int DefaultPort = 6379;

    public TimeSpan EffectiveConnectTimeout => ConnectTimeout ?? TimeSpan.FromSeconds(5);

    public TimeSpan EffectiveCommandTimeout => CommandTimeout ?? TimeSpan.FromSeconds(5);

    public static RedisOptions Parse(string connectionString)
    {
        var parts = connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new FormatException("The Redis connection string is empty.");
        }

        var (host, port) = ParseEndpoint(parts[0]);
        var options = new RedisOptions(host, port);
        foreach (var part in parts.Skip(1))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"Redis option '{part}' is not of the form name=value.");
            }

            var name = part[..equals].Trim();
            var value = part[(equals + 1)..].Trim();
            options = name.ToLowerInvariant() switch
            {
                "password" => options with { Password = value },
                "user" => options with { User = value },
                "ssl" => options with { Ssl = bool.Parse(value) },
                "sslhost" => options with { SslHost = value },
                "sslca" => options with { SslCaPath = value },
                "defaultdatabase" => options with { Database = int.Parse(value, CultureInfo.InvariantCulture) },
                "connecttimeout" => options with { ConnectTimeout = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture)) },
                "synctimeout" or "asynctimeout" => options with { CommandTimeout = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture)) },
                _ => options,
            };
        }

        return options;
    }

    /// <summary>Never prints the password: connection strings end up in logs and exception messages.</summary>
    public override string ToString() => $"{Host}:{Port}{(Ssl ? " (TLS)" : string.Empty)}{(Password is null ? string.Empty : " (password set)")}";

    private static (string Host, int Port) ParseEndpoint(string endpoint)
    {
        // [::1]:6379, host:6379, or a bare host.
        if (endpoint.StartsWith('['))
        {
            var close = endpoint.IndexOf(']', StringComparison.Ordinal);
            var host = endpoint[1..close];
            return (host, close + 2 <= endpoint.Length - 1 ? ParsePort(endpoint[(close + 2)..]) : DefaultPort);
        }

        var colon = endpoint.LastIndexOf(':');
        return colon < 0 ? (endpoint, DefaultPort) : (endpoint[..colon], ParsePort(endpoint[(colon + 1)..]));
    }

    private static int ParsePort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            ? port
            : throw new FormatException($"'{text}' is not a valid Redis port.");
}
