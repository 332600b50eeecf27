using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Storage.CacheProg.Cache;

/// <summary>
/// An exclusive <c>flock(2)</c> on a file, held until disposed or the process ends (the kernel drops it with the last
/// descriptor, so a crashed holder never leaves it behind). It is taken explicitly: the runtime's own locking on open
/// is switched off in this program (see the project file).
/// </summary>
public sealed partial class FileLock : IDisposable
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    private readonly FileStream _file;

    private FileLock(FileStream file) => _file = file;

    /// <summary>The lock, or null when another process (or another handle) holds it.</summary>
    public static FileLock? TryAcquire(string path)
    {
        FileStream file;
        try
        {
            // FileShare.None: where the runtime's own locking is on (a process that has not switched it off), the open
            // is the same exclusive flock and fails while another holder has it.
            file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }

        if (Flock(file.SafeFileHandle, LockExclusive | LockNonBlocking) == 0)
        {
            return new FileLock(file);
        }

        file.Dispose();
        return null;
    }

    /// <summary>Waits for the lock as long as it is held (for locks held only for a short piece of work).</summary>
    public static FileLock Acquire(string path)
    {
        var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        if (Flock(file.SafeFileHandle, LockExclusive) == 0)
        {
            return new FileLock(file);
        }

        file.Dispose();
        throw new IOException($"Cannot lock '{path}' (errno {Marshal.GetLastPInvokeError()}).");
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the lock; null when it stayed held.</summary>
    public static async Task<FileLock?> AcquireAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (TryAcquire(path) is { } held)
            {
                return held;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
        }
    }

    /// <summary>Whether someone holds the lock now (taken and given back at once when free).</summary>
    public static bool IsHeld(string path)
    {
        using var probe = TryAcquire(path);
        return probe is null;
    }

    /// <summary>Replaces the file's contents (what the holder wants others to know, e.g. its settings).</summary>
    public void Write(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        RandomAccess.SetLength(_file.SafeFileHandle, 0);
        RandomAccess.Write(_file.SafeFileHandle, bytes, 0);
    }

    /// <summary>fsync of the lock file (its creation is durable once its folder is flushed too).</summary>
    public void Flush() => _file.Flush(flushToDisk: true);

    /// <summary>The lock file's descriptor (a handle on its file system, for a flush of it).</summary>
    public SafeFileHandle Handle => _file.SafeFileHandle;

    public void Dispose() => _file.Dispose();

    private static int Flock(SafeFileHandle handle, int operation)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            return Flock((int)handle.DangerousGetHandle(), operation);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int descriptor, int operation);
}
