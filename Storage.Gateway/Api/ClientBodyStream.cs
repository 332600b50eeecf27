namespace Storage.Gateway.Api;

/// <summary>The client's request body could not be read to its end (truncated, malformed framing): a 400, never a 500.</summary>
public sealed class InvalidRequestBodyException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Wraps a request body so that any failure while reading it is reported as the client's fault
/// (<see cref="InvalidRequestBodyException"/>), distinct from failures of the storage nodes.
/// </summary>
public sealed class ClientBodyStream(Stream inner) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

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

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
