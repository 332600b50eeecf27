using System.Buffers;
using System.Text.Json;

namespace Storage.CacheProg.Protocol;

/// <summary>
/// Writes responses, one JSON object per line; concurrent handlers answer out of order, one whole line at a time,
/// each in one write (the go command waits on every answer: a second write per line was a second system call).
/// With <paramref name="inline"/> (direct mode's stdout) the write is synchronous: the console stream's asynchronous
/// write hands every line to the thread pool, a thread hop the go command waits for. A socket (the worker) already
/// tries its asynchronous send inline, and must not pin a thread on a client that stops reading.
/// </summary>
public sealed class ProtocolWriter(Stream output, bool inline = false) : IDisposable
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
            if (inline)
            {
                output.Write(line.WrittenSpan);
                output.Flush();
            }
            else
            {
                await output.WriteAsync(line.WrittenMemory, cancellationToken);
                await output.FlushAsync(cancellationToken);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();
}
