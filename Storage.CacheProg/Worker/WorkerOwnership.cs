using System.Globalization;

namespace Storage.CacheProg.Worker;

/// <summary>
/// One worker per local tier: the worker holds <c>worker.lock</c> in the cache folder for as long as it runs, with the
/// remote it uploads to and its process id written inside. Starting or stopping a worker happens under
/// <c>spawn.lock</c>, so two builds never start two, and a worker going idle never leaves a build's spool unseen.
/// </summary>
public sealed class WorkerOwnership : IDisposable
{
    private readonly FileLock _held;

    private WorkerOwnership(FileLock held) => _held = held;

    public static string LockPath(string cacheDirectory) => Path.Combine(cacheDirectory, "worker.lock");

    public static string SpawnLockPath(string cacheDirectory) => Path.Combine(cacheDirectory, "spawn.lock");

    /// <summary>
    /// Takes the folder for this process; null when another worker holds it. A build probing for a worker holds the
    /// lock for a moment (<see cref="FileLock.IsHeld"/>), so the lock is tried for a second before giving up.
    /// </summary>
    public static async Task<WorkerOwnership?> TakeAsync(string cacheDirectory, string destination, CancellationToken cancellationToken)
    {
        if (await FileLock.AcquireAsync(LockPath(cacheDirectory), TimeSpan.FromSeconds(1), cancellationToken) is not { } held)
        {
            return null;
        }

        held.Write($"{destination}\n{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}\n");
        return new WorkerOwnership(held);
    }

    /// <summary>
    /// The running worker of the folder: the remote it uploads to and its process id, or null when none runs. A worker
    /// that holds the lock but has not written it yet is reported with an empty destination.
    /// </summary>
    public static (string Destination, string ProcessId)? Running(string cacheDirectory)
    {
        var path = LockPath(cacheDirectory);
        if (!File.Exists(path) || !FileLock.IsHeld(path))
        {
            return null;
        }

        try
        {
            var lines = File.ReadAllLines(path);
            return lines.Length >= 2 ? (lines[0], lines[1]) : (string.Empty, string.Empty);
        }
        catch (IOException)
        {
            return (string.Empty, string.Empty);
        }
    }

    /// <summary>Gives the folder up (the worker is leaving), so the next build starts a new one.</summary>
    public void Dispose() => _held.Dispose();
}
