using System.Text;

namespace Storage.Gateway.Metadata.Redis;

public enum RedisReplyKind
{
    SimpleString,
    Error,
    Number,
    BulkString,
    Array,
    Null,
}

/// <summary>One RESP2 reply.</summary>
public sealed record RedisReply(RedisReplyKind Kind, long Number = 0, byte[]? Bytes = null, IReadOnlyList<RedisReply>? Items = null)
{
    public static RedisReply Nil { get; } = new(RedisReplyKind.Null);

    public bool IsNull => Kind == RedisReplyKind.Null;

    /// <summary>The reply as text (simple or bulk string), or null for a nil reply.</summary>
    public string? AsString() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.SimpleString or RedisReplyKind.BulkString or RedisReplyKind.Error => Encoding.UTF8.GetString(Bytes!),
        RedisReplyKind.Number => Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new RedisProtocolException($"Expected a string reply, got {Kind}."),
    };

    public long AsInteger() => Kind == RedisReplyKind.Number
        ? Number
        : long.Parse(AsString() ?? throw new RedisProtocolException("Expected an integer reply, got nil."), System.Globalization.CultureInfo.InvariantCulture);

    public IReadOnlyList<RedisReply> AsArray() => Kind switch
    {
        RedisReplyKind.Array => Items!,
        RedisReplyKind.Null => [],
        _ => throw new RedisProtocolException($"Expected an array reply, got {Kind}."),
    };
}

/// <summary>Redis answered with an error reply (-ERR …).</summary>
public class RedisServerException(string message) : Exception(message);

/// <summary>The stream did not contain valid RESP.</summary>
public sealed class RedisProtocolException(string message) : Exception(message);

/// <summary>Redis could not be reached, or the connection broke while a command was in flight.</summary>
public sealed class RedisConnectionException(string message, Exception? inner = null) : Objects.StorageUnavailableException(message, inner);
