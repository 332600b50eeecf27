using System.Net.Sockets;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;

namespace Storage.CacheProg.Worker;

/// <summary>
/// Accepts <c>connect</c> clients on the worker's socket and runs one protocol session per connection, all sharing
/// the worker's cache. A Unix socket is created owner-only inside an owner-only folder, so other users cannot reach it.
/// </summary>
public sealed class WorkerListener(CacheService cache, WorkerAddress address, ILogger<WorkerListener> logger) : BackgroundService
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = Bind();
        var sessions = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(stoppingToken);
                sessions.RemoveAll(s => s.IsCompleted);
                sessions.Add(Task.Run(() => ServeAsync(client, stoppingToken), stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
        finally
        {
            await Task.WhenAll(sessions).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            if (address.EndPoint is UnixDomainSocketEndPoint unix)
            {
                File.Delete(unix.ToString());
            }
        }
    }

    private Socket Bind()
    {
        var socket = address.CreateSocket();
        if (address.EndPoint is UnixDomainSocketEndPoint unix)
        {
            var path = unix.ToString();
            var folder = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(folder))
            {
                Directory.CreateDirectory(folder, OwnerOnly | UnixFileMode.UserExecute);
            }

            // A socket file left by a worker that died (serve checked that nothing answers on it).
            File.Delete(path);
            socket.Bind(unix);
            File.SetUnixFileMode(path, OwnerOnly);
        }
        else
        {
            socket.Bind(address.EndPoint);
        }

        socket.Listen(128);
        logger.LogInformation("Serving GOCACHEPROG sessions on {Address}", address);
        return socket;
    }

    /// <summary>Whether something accepts connections at the address now (a live worker, not a socket file left behind).</summary>
    public static async Task<bool> AnswersAsync(WorkerAddress address, CancellationToken cancellationToken)
    {
        if (address.EndPoint is UnixDomainSocketEndPoint unix && !File.Exists(unix.ToString()))
        {
            return false;
        }

        using var probe = address.CreateSocket();
        try
        {
            await probe.ConnectAsync(address.EndPoint, cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(1), cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException)
        {
            return false;
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken stoppingToken)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            await new ProtocolSession(cache, Console.Error).RunAsync(stream, stream, stoppingToken);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            logger.LogDebug(ex, "A session ended abruptly");
        }
    }
}
