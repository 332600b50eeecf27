using System.Net.Sockets;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Commands;

/// <summary>
/// <c>storage-cacheprog connect [address]</c>: the thin GOCACHEPROG. Copies the go command's stdin to the worker and
/// the worker's answers to stdout, nothing else; exits when the worker ends the session.
/// </summary>
public static class ConnectCommand
{
    public static async Task<int> RunAsync(string? address)
    {
        WorkerAddress worker;
        Socket socket;
        try
        {
            worker = WorkerAddress.Resolve(address);
            socket = worker.CreateSocket();
            await socket.ConnectAsync(worker.EndPoint);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            await Console.Error.WriteLineAsync($"storage-cacheprog connect: no worker at {address ?? WorkerAddress.DefaultSocketPath} ({ex.Message}). Start one with 'storage-cacheprog serve'.");
            return 1;
        }

        await using var stream = new NetworkStream(socket, ownsSocket: true);
        await using var stdin = Console.OpenStandardInput();
        await using var stdout = Console.OpenStandardOutput();
        var upstream = Task.Run(async () =>
        {
            await stdin.CopyToAsync(stream);
            socket.Shutdown(SocketShutdown.Send);
        });

        // The worker closes its side after answering close (or on a protocol error): that ends the session here.
        await stream.CopyToAsync(stdout);
        await stdout.FlushAsync();
        return upstream.IsFaulted ? 1 : 0;
    }
}
