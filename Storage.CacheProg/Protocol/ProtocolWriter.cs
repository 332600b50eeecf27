using System.Buffers;
using System.Text.Json;

namespace Storage.CacheProg.Protocol;

/// <summary>
/// Writes responses, one JSON object per line; concurrent handlers answer out of order, one whole line at a time,
/// each in one write (the go command waits on every answer: a second write per line was a second system call).
/// </summary>
public sealed class ProtocolWriter(Stream output) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task WriteAsync(CacheResponse response, CancellationToken cancellationToken)
    {
        var line = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(line))
        {
            JsonSerializer.Serialize(json, response, ProtocolJsonContext.Default.CacheResponse);
        }

        line.Write("\n"u8);
        await _lock.WaitAsync(cancellationToken);
        try
        {
            // Synchronous on purpose: a pipe or socket takes a line at once, while the asynchronous path of the
            // console stream hands every write to the thread pool (a thread hop the go command waits for).
            output.Write(line.WrittenSpan);
            output.Flush();
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();
}
