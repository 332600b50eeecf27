using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Storage.Tests.Fixtures;

/// <summary>Starting real server processes for tests and benchmarks: a free loopback port, then wait until it listens.</summary>
public static class ServerProcess
{
    /// <summary>
    /// A loopback port nothing listens on, chosen below the kernel's ephemeral range: a port from that range can be
    /// taken as the local end of some outgoing connection between this check and the server's bind (a busy suite
    /// makes thousands), which made a server exit with "address in use" now and then. With
    /// <paramref name="headroom"/>, the port that many above it is below that range too (Redis Cluster's bus port).
    /// </summary>
    public static int FreePort(int headroom = 0)
    {
        var ceiling = Math.Max(EphemeralRangeStart() - headroom, FirstChosenPort + 1000);
        while (true)
        {
            var port = Random.Shared.Next(FirstChosenPort, ceiling);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
        }
    }

    private const int FirstChosenPort = 15000;

    private static int EphemeralRangeStart()
    {
        const string range = "/proc/sys/net/ipv4/ip_local_port_range";
        return File.Exists(range) && int.TryParse(File.ReadAllText(range).Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], out var start) && start > FirstChosenPort + 1000
            ? start
            : 32768;
    }

    /// <summary>Starts the process (output drained, so it never blocks on a full pipe) and returns once the port accepts connections.</summary>
    public static async Task<Process> StartAsync(ProcessStartInfo start, int port, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        var lastLines = new Queue<string>();
        void Keep(string? line)
        {
            lock (lastLines)
            {
                if (line is not null)
                {
                    lastLines.Enqueue(line);
                }

                while (lastLines.Count > 20)
                {
                    lastLines.Dequeue();
                }
            }
        }

        process.OutputDataReceived += (_, line) => Keep(line.Data);
        process.ErrorDataReceived += (_, line) => Keep(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return process;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        var exited = process.HasExited;
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
        }

        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            // Its last words (the reason it exited) arrive with the end of its output.
            await process.WaitForExitAsync(patience.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        string output;
        lock (lastLines)
        {
            output = string.Join('\n', lastLines);
        }

        var name = Path.GetFileName(start.FileName);
        throw exited
            ? new InvalidOperationException($"{name} exited with code {process.ExitCode} before listening on port {port}. Its last output:\n{output}")
            : new TimeoutException($"{name} did not listen on port {port} within {timeout.TotalSeconds:0} s. Its last output:\n{output}");
    }
}
