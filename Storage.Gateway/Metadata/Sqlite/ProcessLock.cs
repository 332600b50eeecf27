using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// An exclusive <c>flock(2)</c> on a file beside the SQLite file, held while a store has it open, so a second gateway
/// on the same metadata is refused at start instead of serving from a cache the first one's writes do not reach. The
/// kernel drops it with the process (a killed gateway never leaves it held). .NET takes the same lock when a file is
/// opened without sharing, unless the host switched that off (<c>System.IO.DisableFileLocking</c>), so it is also taken
/// explicitly. Linux only: elsewhere nothing is locked.
/// </summary>
internal sealed partial class ProcessLock : IDisposable
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int WouldBlock = 11;

    private readonly FileStream _file;

    private ProcessLock(FileStream file) => _file = file;

    /// <summary>Takes the lock on <paramref name="path"/> (created if missing); null when another holder has it.</summary>
    public static ProcessLock? TryTake(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (OperatingSystem.IsLinux() && File.Exists(path))
        {
            // .NET's own flock on open was refused: someone holds the file.
            return null;
        }

        if (!OperatingSystem.IsLinux() || Flock(file.SafeFileHandle, LockExclusive | LockNonBlocking) == 0)
        {
            return new ProcessLock(file);
        }

        var error = Marshal.GetLastPInvokeError();
        file.Dispose();
        return error == WouldBlock ? null : throw new IOException($"Locking {path} failed (errno {error}).");
    }

    public void Dispose() => _file.Dispose();

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle descriptor, int operation);
}
