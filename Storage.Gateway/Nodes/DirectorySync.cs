using System.Runtime.InteropServices;

namespace Storage.Gateway.Nodes;

/// <summary>
/// Makes a rename durable: on Linux a renamed file survives a power cut only once its directory is fsynced too.
/// .NET has no API for that, so this opens the directory read-only (no O_DIRECTORY: its value differs per
/// architecture) and fsyncs it. Elsewhere it does nothing (Windows has no equivalent; macOS is not a target).
/// </summary>
internal static partial class DirectorySync
{
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var descriptor = Open(directory, 0);
        if (descriptor < 0)
        {
            throw new IOException($"Cannot open '{directory}' to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(descriptor) != 0)
            {
                throw new IOException($"Flushing '{directory}' failed (errno {Marshal.GetLastPInvokeError()}).");
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

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
