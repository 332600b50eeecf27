using System.Text.Json;

namespace Storage.CacheProg.Protocol;

/// <summary>Writes responses, one JSON object per line; concurrent handlers answer out of order, one whole line at a time.</summary>
public sealed class ProtocolWriter(Stream output) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task WriteAsync(CacheResponse response, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(response, ProtocolJsonContext.Default.CacheResponse);
        await _lock.WaitAsync(cancellationToken);
        try
        {
            await output.WriteAsync(json, cancellationToken);
            output.WriteByte((byte)'\n');
            await output.FlushAsync(cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();
}
