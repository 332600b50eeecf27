using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Storage.Tests.Fixtures;

/// <summary>
/// The gateway as its own process (<c>dotnet Storage.Gateway.dll</c>), for what only a separate process shows:
/// its peak memory, and what it exports through environment-configured telemetry.
/// </summary>
public sealed partial class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TempDirectory? _data;
    private readonly ConcurrentQueue<string> _output;
    private bool _disposed;

    private GatewayProcess(Process process, TempDirectory? data, string dataPath, ConcurrentQueue<string> output, Uri baseAddress)
    {
        _process = process;
        _data = data;
        DataPath = dataPath;
        _output = output;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(10) };
    }

    public Uri BaseAddress { get; }

    /// <summary>The data folder: the process's own, or the one it was started on (then it outlives the process).</summary>
    public string DataPath { get; }

    public HttpClient Client { get; }

    public int ProcessId => _process.Id;

    /// <summary>What the process wrote so far, stdout and stderr, line by line.</summary>
    public IReadOnlyCollection<string> Output => _output;

    public bool HasExited => _process.HasExited;

    /// <param name="environment">Variables for the process.</param>
    /// <param name="dataPath">An existing data folder (a restart after <see cref="KillAsync"/>); null for a new one the process owns.</param>
    public static async Task<GatewayProcess> StartAsync(IReadOnlyDictionary<string, string>? environment = null, string? dataPath = null)
    {
        var data = dataPath is null ? new TempDirectory("storage-gateway-process") : null;
        dataPath ??= data!.Path;
        var dll = Path.Combine(AppContext.BaseDirectory, "Storage.Gateway.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var arg in new[]
        {
            dll,
            "--urls=http://127.0.0.1:0",
            $"--Storage:DataPath={dataPath}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        })
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the gateway process.");
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            output.Enqueue(line);
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                output.Enqueue(line);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var registration = timeout.Token.Register(() => listening.TrySetException(new TimeoutException("The gateway process did not start listening within 60 s.")));
        try
        {
            // A gateway that refuses to start exits; its output (drained by the wait) says why.
            var exited = process.WaitForExitAsync(timeout.Token);
            if (await Task.WhenAny(listening.Task, exited) == exited && !listening.Task.IsCompleted)
            {
                throw new InvalidOperationException($"The gateway process exited with {process.ExitCode} before listening:\n{string.Join('\n', output)}");
            }

            return new GatewayProcess(process, data, dataPath, output, await listening.Task);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            data?.Dispose();
            throw;
        }
    }

    /// <summary>Peak resident memory of the process so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>SIGKILL: no shutdown, no lease released, requests in flight cut off — a crashed gateway.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Client.Dispose();
        await KillAsync();

        _process.Dispose();
        _data?.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();
}
