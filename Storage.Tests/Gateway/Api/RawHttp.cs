using System.Net.Sockets;
using System.Text;

namespace Storage.Tests.Gateway.Api;

/// <summary>Requests no well-behaved HttpClient would send, written straight to a socket.</summary>
public static class RawHttp
{
    /// <summary>Sends headers declaring <paramref name="declaredLength"/> bytes, then fewer, then half-closes. Returns the status, or null if the server just closed.</summary>
    public static async Task<int?> SendTruncatedPutAsync(Uri baseAddress, string path, long declaredLength, int sentBytes, string contentType = "application/octet-stream", byte[]? body = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = client.GetStream();
        var head = $"PUT {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nContent-Type: {contentType}\r\nContent-Length: {declaredLength}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(body ?? new byte[sentBytes]);
        client.Client.Shutdown(SocketShutdown.Send);
        return await ReadStatusAsync(stream);
    }

    /// <summary>Sends a chunked body whose framing breaks after <paramref name="validBytes"/>, keeping the connection open for the answer.</summary>
    public static async Task<int?> SendMalformedChunkedPutAsync(Uri baseAddress, string path, int validBytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"PUT {path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nTransfer-Encoding: chunked\r\n\r\n"));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{validBytes:x}\r\n"));
        await stream.WriteAsync(new byte[validBytes]);
        await stream.WriteAsync(Encoding.ASCII.GetBytes("\r\nnot-a-chunk-size\r\n"));
        return await ReadStatusAsync(stream);
    }

    private static async Task<int?> ReadStatusAsync(NetworkStream stream)
    {
        var buffer = new byte[4096];
        try
        {
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            var text = Encoding.ASCII.GetString(buffer, 0, read);
            return text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
