using System.Net.Sockets;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A Unix socket in front of the real Docker daemon's, so a test can make "the daemon" go away for one gateway (and come
/// back) without stopping the engine every other test uses. Bytes are relayed unchanged both ways.
/// </summary>
public sealed class DockerSocketProxy : IAsyncDisposable
{
    private const string DaemonSocket = "/var/run/docker.sock";

    private readonly TempDirectory _folder = new("docker-proxy");
    private readonly List<Socket> _connections = [];
    private Socket? _listener;
    private bool _cut;
    private Task _accepting = Task.CompletedTask;

    public DockerSocketProxy()
    {
        Path = System.IO.Path.Combine(_folder.Path, "docker.sock");
        Restore();
    }

    public string Path { get; }

    public Uri Endpoint => new($"unix://{Path}");

    /// <summary>The daemon "goes away": the socket stops accepting and every open connection (the event stream too) is cut.</summary>
    public async Task CutAsync()
    {
        var listener = _listener;
        _listener = null;
        listener?.Dispose();
        File.Delete(Path);
        lock (_connections)
        {
            _cut = true;
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }

            _connections.Clear();
        }

        await _accepting;
    }

    /// <summary>The daemon is back.</summary>
    public void Restore()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path));
        listener.Listen(16);
        lock (_connections)
        {
            _cut = false;
        }

        _listener = listener;
        _accepting = AcceptAsync(listener);
    }

    public async ValueTask DisposeAsync()
    {
        await CutAsync();
        _folder.Dispose();
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return;
            }

            var daemon = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await daemon.ConnectAsync(new UnixDomainSocketEndPoint(DaemonSocket));
            lock (_connections)
            {
                if (_cut)
                {
                    // Accepted just as the daemon "went away": it goes with it.
                    client.Dispose();
                    daemon.Dispose();
                    continue;
                }

                _connections.Add(client);
                _connections.Add(daemon);
            }

            _ = RelayAsync(client, daemon);
            _ = RelayAsync(daemon, client);
        }
    }

    private static async Task RelayAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read));
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
