using System.Globalization;
using System.Runtime.InteropServices;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>The worker holding a folder: the remote it uploads to, its process id, and whether it exits when idle.</summary>
public sealed record RunningWorker(string Destination, string ProcessId, bool ExitsWhenIdle);

/// <summary>
/// One worker per local tier: the worker holds <c>worker.lock</c> in the cache folder for as long as it runs, with the
/// remote it uploads to, its process id and whether it exits when idle written inside. Starting or stopping a worker
/// happens under <c>spawn.lock</c>, so two builds never start two, and a worker going idle never leaves a build's
/// spool unseen. A worker that exits when idle (one a build started) gives way to one started to last
/// (<see cref="TakeOverAsync"/>): the AppHost's, or the user's own <c>serve</c>.
/// </summary>
public sealed partial class WorkerOwnership : IDisposable
{
    private const int Terminate = 15;

    private readonly FileLock _held;

    private WorkerOwnership(FileLock held) => _held = held;

    public static string LockPath(string cacheDirectory) => Path.Combine(cacheDirectory, "worker.lock");

    public static string SpawnLockPath(string cacheDirectory) => Path.Combine(cacheDirectory, "spawn.lock");

    /// <summary>
    /// Takes the folder for this process; null when another worker holds it. A build probing for a worker holds the
    /// lock for a moment (<see cref="FileLock.IsHeld"/>), so the lock is tried for a second before giving up.
    /// </summary>
    public static Task<WorkerOwnership?> TakeAsync(string cacheDirectory, string destination, bool exitsWhenIdle, CancellationToken cancellationToken) =>
        TakeAsync(cacheDirectory, destination, exitsWhenIdle, TimeSpan.FromSeconds(1), cancellationToken);

    /// <summary>
    /// For a worker meant to last: asks a worker that exits when idle to stop (SIGTERM: it finishes its uploads within
    /// its close timeout) and takes the folder once it has gone, under the spawn lock, so no build starts another
    /// meanwhile. Null when the folder is held by a worker meant to last too, or the other did not leave in time.
    /// </summary>
    public static async Task<WorkerOwnership?> TakeOverAsync(string cacheDirectory, string destination, TimeSpan patience, CancellationToken cancellationToken)
    {
        using var spawning = await FileLock.AcquireAsync(SpawnLockPath(cacheDirectory), TimeSpan.FromSeconds(5), cancellationToken);
        if (spawning is null || Running(cacheDirectory) is not { ExitsWhenIdle: true } other
            || !int.TryParse(other.ProcessId, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || Kill(pid, Terminate) != 0)
        {
            return null;
        }

        return await TakeAsync(cacheDirectory, destination, exitsWhenIdle: false, patience, cancellationToken);
    }

    private static async Task<WorkerOwnership?> TakeAsync(string cacheDirectory, string destination, bool exitsWhenIdle, TimeSpan patience, CancellationToken cancellationToken)
    {
        if (await FileLock.AcquireAsync(LockPath(cacheDirectory), patience, cancellationToken) is not { } held)
        {
            return null;
        }

        held.Write($"{destination}\n{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}\n{(exitsWhenIdle ? IdleMark : LastingMark)}\n");
        return new WorkerOwnership(held);
    }

    private const string IdleMark = "exits-when-idle";
    private const string LastingMark = "lasting";

    /// <summary>
    /// The running worker of the folder, or null when none runs. A worker that holds the lock but has not written it
    /// yet is reported with an empty destination.
    /// </summary>
    public static RunningWorker? Running(string cacheDirectory)
    {
        var path = LockPath(cacheDirectory);
        if (!File.Exists(path) || !FileLock.IsHeld(path))
        {
            return null;
        }

        try
        {
            var lines = File.ReadAllLines(path);
            return lines.Length >= 3 ? new RunningWorker(lines[0], lines[1], lines[2] == IdleMark) : new RunningWorker(string.Empty, string.Empty, false);
        }
        catch (IOException)
        {
            return new RunningWorker(string.Empty, string.Empty, false);
        }
    }

    /// <summary>Gives the folder up (the worker is leaving), so the next build starts a new one.</summary>
    public void Dispose() => _held.Dispose();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int processId, int signal);
}
