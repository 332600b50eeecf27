using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Storage.Tests.Fixtures;

/// <summary>Starting real server processes for tests and benchmarks: a free loopback port, then wait until it listens.</summary>
public static class ServerProcess
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts the process (output drained, so it never blocks on a full pipe) and returns once the port accepts connections.</summary>
    public static async Task<Process> StartAsync(ProcessStartInfo start, int port, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {start.FileName}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
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

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        throw new TimeoutException($"{Path.GetFileName(start.FileName)} did not listen on port {port} within {timeout.TotalSeconds:0} s.");
    }
}
