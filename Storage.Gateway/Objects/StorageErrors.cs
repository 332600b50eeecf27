namespace Storage.Gateway.Objects;

/// <summary>A failure of the store itself (not of the request): clients should retry later (503).</summary>
public abstract class StorageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class InsufficientNodesException(int available, int required, int registered)
    : StorageUnavailableException(
        $"Only {available} of {registered} storage nodes are available; writing needs at least {required}. Nothing was stored.");

public sealed class NodeWriteException(string nodeId, Exception inner)
    : StorageUnavailableException($"Storage node '{nodeId}' failed while storing a part ({inner.Message}). Nothing was stored.", inner);

public sealed class DataUnavailableException(string message) : StorageUnavailableException(message);

/// <summary>The client sent a body shorter or longer than it declared (400).</summary>
public sealed class BodyLengthMismatchException(long expected, long received)
    : Exception($"The request declared {expected} bytes but sent {received}. Nothing was stored.");

/// <summary>The body does not match a digest the client declared for it (Content-MD5, a checksum, the payload hash): 400.</summary>
public sealed class ContentDigestMismatchException(string digest)
    : Exception($"The body does not match its {digest}. Nothing was stored.")
{
    public string Digest { get; } = digest;
}
