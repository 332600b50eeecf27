using Storage.Gateway.Objects;

namespace Storage.Gateway.Api;

/// <summary>The client's request body could not be read to its end (truncated, malformed framing): a 400, never a 500.</summary>
public sealed class InvalidRequestBodyException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Wraps a request body so that any failure while reading it is reported as the client's fault
/// (<see cref="InvalidRequestBodyException"/>), distinct from failures of the storage nodes.
/// </summary>
public sealed class ClientBodyStream(Stream inner) : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or BadHttpRequestException or InvalidDataException)
        {
            throw new InvalidRequestBodyException($"The request body could not be read: {ex.Message} Nothing was stored.", ex);
        }
    }
}
