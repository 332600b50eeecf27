using StackExchange.Redis;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Counts the multiplexer's connection losses, restorations and configuration changes (a Sentinel primary switch), so a
/// caller can tell whether the connection a write went out on is still the one a later command uses (Redis' <c>WAIT</c>
/// only vouches for writes on its own connection). StackExchange.Redis raises these events from the thread pool, so a
/// change can be counted a moment late; that window remains.
/// </summary>
public sealed class ConnectionGeneration
{
    private long _current;

    public ConnectionGeneration(IConnectionMultiplexer redis)
    {
        redis.ConnectionFailed += (_, _) => Interlocked.Increment(ref _current);
        redis.ConnectionRestored += (_, _) => Interlocked.Increment(ref _current);
        redis.ConfigurationChanged += (_, _) => Interlocked.Increment(ref _current);
        redis.ConfigurationChangedBroadcast += (_, _) => Interlocked.Increment(ref _current);
    }

    public long Current => Interlocked.Read(ref _current);
}
