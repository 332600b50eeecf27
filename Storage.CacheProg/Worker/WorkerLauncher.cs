using System.Diagnostics;
using System.Globalization;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>
/// Finds or starts the worker that takes a direct-mode build's uploads: the one holding the local tier's folder, if
/// it uploads to the same remote; else a new <c>serve</c> with this build's settings, an owner-only socket in the
/// folder and an idle exit. The new worker is detached through <c>/bin/sh</c> with its standard streams on
/// <c>/dev/null</c> and a log file, in a session of its own: the go command waits for EOF on the pipes it gave this
/// process, so a worker that inherited them would hold every build open.
/// </summary>
public sealed class WorkerLauncher(CacheProgOptions options, string cacheDirectory, TextWriter diagnostics)
{
    /// <summary>How long a started worker may take to claim its folder before the build uploads by itself.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Unix socket paths are limited to 108 bytes; a longer folder gets a worker without a socket.</summary>
    private const int MaxSocketPath = 100;

    public const string LogFileName = "worker.log";

    /// <summary>True when a worker for this remote holds the folder (it was running, or is now started).</summary>
    public async Task<bool> EnsureRunningAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await FindOrStartAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // E.g. a lock file another user left (a build run with sudo): this build uploads by itself.
            await diagnostics.WriteLineAsync($"storage-cacheprog: could not reach the worker of {cacheDirectory} ({ex.Message}); uploading here.");
            return false;
        }
    }

    private async Task<bool> FindOrStartAsync(CancellationToken cancellationToken)
    {
        var destination = UploadSpool.DestinationOf(options);
        using var spawning = await FileLock.AcquireAsync(WorkerOwnership.SpawnLockPath(cacheDirectory), StartTimeout, cancellationToken);
        if (spawning is null)
        {
            await diagnostics.WriteLineAsync($"storage-cacheprog: {WorkerOwnership.SpawnLockPath(cacheDirectory)} stayed locked; uploading here.");
            return false;
        }

        if (await RunningAsync(cancellationToken) is { } running)
        {
            if (running.Destination == destination)
            {
                return true;
            }

            await diagnostics.WriteLineAsync($"storage-cacheprog: the worker of {cacheDirectory} (pid {running.ProcessId}) uploads elsewhere ({running.Destination}); uploading here.");
            return false;
        }

        try
        {
            Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            await diagnostics.WriteLineAsync($"storage-cacheprog: could not start a worker ({ex.Message}); uploading here.");
            return false;
        }

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (WorkerOwnership.Running(cacheDirectory) is { Destination.Length: > 0 } started)
            {
                return started.Destination == destination;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
        }

        await diagnostics.WriteLineAsync($"storage-cacheprog: the worker started for {cacheDirectory} did not come up within {StartTimeout.TotalSeconds:0} s (see {Path.Combine(cacheDirectory, LogFileName)}); uploading here.");
        return false;
    }

    /// <summary>The worker holding the folder, once it has said what it uploads to (it may be starting).</summary>
    private async Task<RunningWorker?> RunningAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (WorkerOwnership.Running(cacheDirectory) is { } running)
        {
            if (running.Destination.Length > 0 || deadline.Elapsed > StartTimeout)
            {
                return running;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
        }

        return null;
    }

    private void Start()
    {
        var executable = Environment.ProcessPath ?? throw new InvalidOperationException("this program's path is unknown");
        var log = Path.Combine(cacheDirectory, LogFileName);
        RotateLog(log);

        // sh backgrounds the worker with its streams redirected before it runs, then exits; setsid (util-linux,
        // busybox) gives it a session of its own, so the terminal's Ctrl-C for the build does not reach it.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("""log="$1"; shift; if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null >>"$log" 2>&1 & else "$@" </dev/null >>"$log" 2>&1 & fi""");
        start.ArgumentList.Add("storage-cacheprog-worker");
        start.ArgumentList.Add(log);
        start.ArgumentList.Add(executable);
        foreach (var argument in ServeArguments())
        {
            start.ArgumentList.Add(argument);
        }

        using var shell = Process.Start(start) ?? throw new InvalidOperationException("/bin/sh did not start");
        shell.WaitForExit();
    }

    /// <summary>This build's settings as a worker's command line (secrets stay in the environment it inherits).</summary>
    private string[] ServeArguments()
    {
        var socket = Path.Combine(cacheDirectory, "worker.sock");
        string[] arguments =
        [
            "serve",
            "--dir", cacheDirectory,
            "--listen", socket.Length <= MaxSocketPath ? "unix:" + socket : WorkerAddress.None,
            "--http", "http://127.0.0.1:0",
            "--idle-exit", Seconds(options.WorkerIdleExit),
            "--prefix", options.Prefix,
            "--region", options.Region,
            "--max-local-mb", (options.MaxLocalBytes / (1024 * 1024)).ToString(CultureInfo.InvariantCulture),
            "--upload-concurrency", options.UploadConcurrency.ToString(CultureInfo.InvariantCulture),
            "--close-timeout", Seconds(options.CloseTimeout),
            "--remote-timeout", Seconds(options.RemoteTimeout),
            "--refresh-after", Seconds(options.RefreshAfter),
        ];
        arguments = options.Prefetch ? arguments : [.. arguments, "--no-prefetch"];
        return options.Endpoint is null || options.Bucket is null
            ? arguments
            : [.. arguments, "--endpoint", options.Endpoint.ToString(), "--bucket", options.Bucket];
    }

    private static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    /// <summary>Keeps one earlier log beside the current one, so the log never grows without bound; the log is owner-only.</summary>
    private static void RotateLog(string log)
    {
        if (new FileInfo(log) is { Exists: true, Length: > 1024 * 1024 })
        {
            File.Move(log, log + ".1", overwrite: true);
        }

        using var created = new FileStream(log, new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
    }
}
