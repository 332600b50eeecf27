using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Storage.Gateway.Nodes;

/// <summary>
/// The flushes .NET has no API for, on Linux. A renamed file survives a power cut only once its directory is flushed
/// too (<see cref="Directory"/>); one <c>syncfs(2)</c> makes every write and rename on a file system durable at once
/// (<see cref="FileSystem"/>, what a folder node's flush rounds use); <c>sync_file_range(2)</c> writes a large file
/// back as it grows (<see cref="WriteBack"/>), so a flush round never waits behind gigabytes of dirty pages.
/// Directories are opened read-only without O_DIRECTORY (its value differs per architecture). Needs Linux 5.8 or
/// later for <c>syncfs</c> to report write-back errors; a part's own error is also checked on its handle. Elsewhere these do
/// nothing (Windows has no equivalent; macOS is not a target).
/// </summary>
internal static partial class DiskFlush
{
    private const int WaitBefore = 1;
    private const int Write = 2;
    private const int WaitAfter = 4;

    // O_RDONLY | O_CLOEXEC (the same value on x86-64 and arm64, unlike O_DIRECTORY).
    private const int ReadOnlyCloseOnExec = 0x80000;

    /// <summary>fsync of a directory: its entries (a rename into it) are durable.</summary>
    public static void Directory(string directory) => WithDirectory(directory, "flush", Fsync);

    /// <summary>syncfs of the file system holding <paramref name="directory"/>: everything written and renamed on it is durable.</summary>
    public static void FileSystem(string directory) => WithDirectory(directory, "flush the file system of", SyncFileSystem);

    /// <summary>
    /// Starts writing back the file's bytes in [<paramref name="offset"/>, +<paramref name="length"/>); with
    /// <paramref name="wait"/>, returns once they are written (the way to bound a writer's dirty pages).
    /// </summary>
    public static void WriteBack(SafeFileHandle file, long offset, long length, bool wait)
    {
        if (OperatingSystem.IsLinux() && SyncFileRange(file, offset, length, wait ? WaitBefore | Write | WaitAfter : Write) != 0)
        {
            throw new IOException($"Writing back a file range failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>Throws when write-back of the file failed since it was opened (after a flush, nothing is left to write).</summary>
    public static void CheckWrittenBack(SafeFileHandle file)
    {
        if (OperatingSystem.IsLinux() && SyncFileRange(file, 0, 0, WaitBefore) != 0)
        {
            throw new IOException($"Writing the file back failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    private static void WithDirectory(string directory, string action, Func<int, int> call)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var descriptor = Open(directory, ReadOnlyCloseOnExec);
        if (descriptor < 0)
        {
            throw new IOException($"Cannot open '{directory}' to {action} it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (call(descriptor) != 0)
            {
                throw new IOException($"Failed to {action} '{directory}' (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFileSystem(int descriptor);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(SafeFileHandle descriptor, long offset, long length, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
