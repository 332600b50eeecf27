using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Storage.CacheProg.Cache;

/// <summary>
/// Crash safety of the local tier without a flush on the build's path. Bodies and entries are named without an fsync
/// each (a cold build names ~1,500, and an fsync apiece cost it 1-1.5 s); instead a process names files only while it
/// holds a durable marker in <c>unsynced/</c> (the marker and its folder fsynced, the marker recording a cutoff: the
/// start of this process's last successful flush, before which everything it wrote is on disk). After its builds one
/// <c>syncfs(2)</c> makes everything it named durable at once; then the marker goes, or its cutoff moves up. A marker
/// nobody holds (its <c>flock</c> dies with its process) means a process ended before its flush: the next process to
/// open the folder checks every body and entry written since that cutoff (a body must hash to its OutputID, an entry
/// must parse), removes what a power cut left incomplete and flushes the rest, before it answers anything. So a crash
/// costs misses, never a wrong body. Needs Linux 5.8 or later, where <c>syncfs</c> reports write-back errors.
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

    // Everything this process wrote before this time is on disk (the start of its last successful flush, or its open);
    // a marker records it, and a repair checks only what was written after it.
    private DateTime _flushedBefore = DateTime.UtcNow;

    // A flush failed: syncfs reports a write-back error once, so a later one succeeding proves nothing. The marker stays.
    private bool _failed;

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

            Repaired += repair(CutoffOf(path));

            // The dead process's files may still be only in the page cache (it was killed, the machine kept running):
            // checked now, they must also reach the disk before nothing marks them any more.
            Flush(abandoned);
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
                    try
                    {
                        // Once per period of unflushed names (a build): the marker and its cutoff must survive a power cut.
                        // Its own fsync and its folder's, not a syncfs: that would wait for every dirty page on the file
                        // system (the last build's outputs), and this is on the build's path.
                        DateTime cutoff;
                        lock (_gate)
                        {
                            cutoff = _flushedBefore;
                        }

                        marker.Write(cutoff.Ticks.ToString(CultureInfo.InvariantCulture));
                        await Task.Run(() => MakeDurable(marker, _folder), cancellationToken);
                    }
                    catch
                    {
                        File.Delete(path);
                        marker.Dispose();
                        throw;
                    }

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
    /// Makes every name this process made durable (one <c>syncfs</c>), then drops the marker, or, when names were made
    /// meanwhile, moves its cutoff to this flush's start. Throws <see cref="IOException"/> when the flush fails (or an
    /// earlier one did); the marker then stays for this process's life, for the next start's repair.
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

                if (_failed)
                {
                    throw new IOException("An earlier flush of the local tier failed; the next start checks what this process wrote.");
                }

                marker = _marker;
                named = _named;
            }

            var started = DateTime.UtcNow;
            try
            {
                await Task.Run(() => Flush(marker), cancellationToken);
            }
            catch (IOException)
            {
                lock (_gate)
                {
                    _failed = true;
                }

                throw;
            }

            lock (_gate)
            {
                _flushedBefore = started;
                if (_marker == marker && _named == named && _naming == 0)
                {
                    // Deleted before the lock is let go: nobody sees it abandoned and repairs for nothing.
                    File.Delete(_markerPath!);
                    marker.Dispose();
                    _marker = null;
                }
                else if (_marker == marker)
                {
                    // Names made during the flush keep the marker; what was written before it started is on disk now,
                    // so a repair after a crash need not read it (a worker whose sessions overlap never drops its marker).
                    marker.Write(started.Ticks.ToString(CultureInfo.InvariantCulture));
                    marker.Flush();
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

    /// <summary>The cutoff a marker records; all of time when it cannot be read (a repair then checks every file).</summary>
    private static DateTime CutoffOf(string markerPath) =>
        long.TryParse(File.ReadAllText(markerPath), NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && ticks is > 0 and <= 3155378975999999999
            ? new DateTime(ticks, DateTimeKind.Utc)
            : DateTime.MinValue;

    private static void MakeDurable(FileLock marker, string folder)
    {
        marker.Flush();
        var descriptor = Open(folder, ReadOnlyCloseOnExec);
        if (descriptor < 0)
        {
            throw new IOException($"Cannot open '{folder}' to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(descriptor) != 0)
            {
                throw new IOException($"Flushing '{folder}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    private static void Flush(FileLock marker)
    {
        if (SyncFileSystem(marker.Handle) != 0)
        {
            throw new IOException($"Flushing the local tier's file system failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    // O_RDONLY | O_CLOEXEC (the same value on x86-64 and arm64; O_DIRECTORY is not, so it is left out).
    private const int ReadOnlyCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFileSystem(SafeFileHandle descriptor);

    /// <summary>One or more renames under the marker (see <see cref="NamingAsync"/>).</summary>
    public readonly struct Naming(LocalDurability owner) : IDisposable
    {
        public void Dispose() => owner.Named();
    }
}
