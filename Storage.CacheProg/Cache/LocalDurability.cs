using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Storage.CacheProg.Cache;

/// <summary>
/// Crash safety of the local tier without a flush on the build's path. Bodies and entries are named without an fsync
/// each (a cold build names ~1,500, and an fsync apiece cost it 1-1.5 s); instead a process names files only while it
/// holds a durable marker in <c>unsynced/</c>, and after its builds one <c>syncfs(2)</c> makes everything it named
/// durable at once, then the marker goes. A marker nobody holds (its <c>flock</c> dies with its process) means a
/// process ended before its flush: the next process to open the folder checks every body and entry written since
/// that marker appeared (a body must hash to its OutputID, an entry must parse) and removes what a power cut left
/// incomplete, before it answers anything. So a crash costs misses, never a wrong body.
/// </summary>
public sealed partial class LocalDurability : IDisposable
{
    public const string FolderName = "unsynced";

    /// <summary>Held while a process looks for markers to repair, so a second process waits for the first's repair.</summary>
    private const string RepairLockName = "repair.lock";

    private readonly string _folder;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _marking = new(1, 1);
    private readonly SemaphoreSlim _flushing = new(1, 1);

    // The marker while this process may have named files not flushed yet; names in progress; names done.
    private FileLock? _marker;
    private string? _markerPath;
    private int _naming;
    private long _named;

    /// <param name="root">The local tier's folder.</param>
    /// <param name="repair">Checks the files written since a time (minus clock slack) and returns how many it removed.</param>
    public LocalDurability(string root, Func<DateTime, int> repair)
    {
        _folder = Path.Combine(root, FolderName);
        Directory.CreateDirectory(_folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var repairing = FileLock.Acquire(Path.Combine(root, RepairLockName));
        foreach (var path in Directory.GetFiles(_folder))
        {
            using var abandoned = FileLock.TryAcquire(path);
            if (abandoned is null)
            {
                continue;
            }

            // Bodies are named after their marker is durable: anything older was flushed by an earlier round.
            Repaired += repair(File.GetLastWriteTimeUtc(path));
            File.Delete(path);
        }
    }

    /// <summary>Files removed at open because a process ended before flushing them and they were incomplete.</summary>
    public int Repaired { get; }

    /// <summary>Whether this process may have named files that are not flushed yet.</summary>
    public bool Unflushed
    {
        get
        {
            lock (_gate)
            {
                return _marker is not null;
            }
        }
    }

    /// <summary>
    /// Covers one or more renames into the tier: the marker is durable before the first, and a flush that started before
    /// the last one ended keeps the marker. Dispose the scope once the names are made.
    /// </summary>
    public async ValueTask<Naming> NamingAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (_gate)
            {
                if (_marker is not null)
                {
                    _naming++;
                    return new Naming(this);
                }
            }

            await _marking.WaitAsync(cancellationToken);
            try
            {
                if (!Unflushed)
                {
                    var path = Path.Combine(_folder, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
                    var marker = FileLock.TryAcquire(path) ?? throw new IOException($"Cannot create the marker '{path}'.");

                    // Once per period of unflushed names (a build): the marker itself must survive a power cut.
                    await Task.Run(() => Flush(marker), cancellationToken);
                    lock (_gate)
                    {
                        _marker = marker;
                        _markerPath = path;
                    }
                }
            }
            finally
            {
                _marking.Release();
            }
        }
    }

    /// <summary>
    /// Makes every name this process made durable (one <c>syncfs</c>), then drops the marker unless names were made
    /// meanwhile. Throws <see cref="IOException"/> when the flush fails; the marker then stays, for a repair.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken);
        try
        {
            FileLock marker;
            long named;
            lock (_gate)
            {
                if (_marker is null)
                {
                    return;
                }

                marker = _marker;
                named = _named;
            }

            await Task.Run(() => Flush(marker), cancellationToken);
            lock (_gate)
            {
                if (_marker == marker && _named == named && _naming == 0)
                {
                    // Deleted before the lock is let go: nobody sees it abandoned and repairs for nothing.
                    File.Delete(_markerPath!);
                    marker.Dispose();
                    _marker = null;
                }
            }
        }
        finally
        {
            _flushing.Release();
        }
    }

    /// <summary>Lets go of a marker still held: it is abandoned then, and the next process repairs what it covers.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _marker?.Dispose();
            _marker = null;
        }
    }

    private void Named()
    {
        lock (_gate)
        {
            _naming--;
            _named++;
        }
    }

    private static void Flush(FileLock marker)
    {
        if (SyncFileSystem(marker.Handle) != 0)
        {
            throw new IOException($"Flushing the local tier's file system failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFileSystem(SafeFileHandle descriptor);

    /// <summary>One or more renames under the marker (see <see cref="NamingAsync"/>).</summary>
    public readonly struct Naming(LocalDurability owner) : IDisposable
    {
        public void Dispose() => owner.Named();
    }
}
