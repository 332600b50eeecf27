namespace Storage.CacheProg.Protocol;

/// <summary>A put's body as received: a temporary file in the local tier's folder, already hashed while it was decoded.</summary>
public sealed record ReceivedBody(string TemporaryPath, long Size, byte[] Sha256);

/// <summary>What a protocol session asks of the cache; every method answers, none throws for a cache miss or a remote failure.</summary>
public interface ICacheBackend
{
    /// <summary>A fresh temporary file path next to the local tier, for a put's body.</summary>
    string NewTemporaryPath();

    Task<CacheResponse> GetAsync(long id, byte[] actionId, SessionCounters session, CancellationToken cancellationToken);

    /// <summary>Stores a verified body (its SHA-256 equals <paramref name="outputId"/>); answers once it is in the local tier.</summary>
    Task<CacheResponse> PutAsync(long id, byte[] actionId, byte[] outputId, ReceivedBody body, SessionCounters session, CancellationToken cancellationToken);

    /// <summary>A session (one go command) began; its requests are counted in what this returns.</summary>
    SessionCounters SessionStarted();

    /// <summary>The session ended (its <c>close</c>, or its input ended): whatever must happen before the go command is told the cache is done.</summary>
    Task CloseAsync(SessionCounters session, CancellationToken cancellationToken);
}
