using StackExchange.Redis;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Counts the multiplexer's connection losses and restorations, so a caller can tell whether the connection a write
/// went out on is still the one a later command uses (Redis' <c>WAIT</c> only vouches for writes on its own connection).
/// </summary>
public sealed class ConnectionGeneration
{
    private long _current;

    public ConnectionGeneration(IConnectionMultiplexer redis)
    {
        redis.ConnectionFailed += (_, _) => Interlocked.Increment(ref _current);
        redis.ConnectionRestored += (_, _) => Interlocked.Increment(ref _current);
    }

    public long Current => Interlocked.Read(ref _current);
}
