using System.Net;
using System.Net.Sockets;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A TCP relay on loopback in front of a real server that can be told to cut the next response's body half-way, as
/// a node whose connection resets mid-body does: past the headers, so no HTTP client or SDK can retry it by itself.
/// </summary>
public sealed class ResponseCuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private static readonly byte[] HeaderEnd = "\r\n\r\n"u8.ToArray();
    private int _armed;
    private int _dropped;

    public ResponseCuttingProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many responses were cut.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>The next response with a body, on any connection, gets its headers and half its first body bytes, then the connection closes.</summary>
    public void CutNextResponse() => Volatile.Write(ref _armed, 1);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var upstream = PumpAsync(client.GetStream(), server.GetStream(), cutWhenArmed: false, cut);
                var downstream = PumpAsync(server.GetStream(), client.GetStream(), cutWhenArmed: true, cut);
                await Task.WhenAny(upstream, downstream);
                await cut.CancelAsync();
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // Either side went away: so does the relay.
            }
        }
    }

    private async Task PumpAsync(Stream from, Stream to, bool cutWhenArmed, CancellationTokenSource cut)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, cut.Token);
                if (read == 0)
                {
                    return;
                }

                if (cutWhenArmed && Volatile.Read(ref _armed) == 1 && buffer.AsSpan(0, read).IndexOf(HeaderEnd) is var headers and >= 0)
                {
                    var body = read - (headers + HeaderEnd.Length);
                    if (body >= 2 && Interlocked.Exchange(ref _armed, 0) == 1)
                    {
                        Interlocked.Increment(ref _dropped);
                        await to.WriteAsync(buffer.AsMemory(0, headers + HeaderEnd.Length + (body / 2)), cut.Token);
                        return;
                    }
                }

                await to.WriteAsync(buffer.AsMemory(0, read), cut.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            // The connection ended.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
