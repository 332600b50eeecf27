using System.Net.Sockets;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Commands;

/// <summary>
/// <c>storage-cacheprog connect [address]</c>: the thin GOCACHEPROG. Copies the go command's stdin to the worker and
/// the worker's answers to stdout, bytes as they come, nothing parsed; exits when the worker ends the session. Each
/// direction is a thread of its own in blocking reads and writes: a message costs one read and one write, with no
/// wake-up through the thread pool in between (an asynchronous copy paid one per message and direction).
/// </summary>
public static class ConnectCommand
{
    private const int BufferSize = 64 * 1024;

    public static int Run(string? address)
    {
        WorkerAddress worker;
        Socket socket;
        try
        {
            worker = WorkerAddress.Resolve(address);
            socket = worker.CreateSocket();
            socket.Connect(worker.EndPoint);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            Console.Error.WriteLine($"storage-cacheprog connect: no worker at {address ?? WorkerAddress.DefaultSocketPath} ({ex.Message}). Start one with 'storage-cacheprog serve'.");
            return 1;
        }

        using var connection = new NetworkStream(socket, ownsSocket: true);
        using var stdin = Console.OpenStandardInput();
        using var stdout = Console.OpenStandardOutput();
        var upstreamFailed = false;
        var upstream = new Thread(() =>
        {
            try
            {
                Copy(stdin, connection);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                upstreamFailed = true;
            }
        })
        {
            IsBackground = true,
            Name = "stdin to worker",
        };
        upstream.Start();

        // The worker closes its side after answering close (or on a protocol error): that ends the session here.
        try
        {
            Copy(connection, stdout);
        }
        catch (IOException)
        {
            return 1;
        }

        return Volatile.Read(ref upstreamFailed) ? 1 : 0;
    }

    private static void Copy(Stream from, Stream to)
    {
        var buffer = new byte[BufferSize];
        int read;
        while ((read = from.Read(buffer)) > 0)
        {
            to.Write(buffer.AsSpan(0, read));
        }
    }
}
