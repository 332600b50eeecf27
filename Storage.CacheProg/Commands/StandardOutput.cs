using System.Runtime.InteropServices;

namespace Storage.CacheProg.Commands;

/// <summary>
/// Lets go of the protocol's pipe. The go command waits for EOF on this process's stdout after close; pointing
/// descriptor 1 at /dev/null ends the build's wait while this process finishes its own work (handing uploads over,
/// the stats history, trimming). Every other handle on the pipe must already be closed.
/// </summary>
public static partial class StandardOutput
{
    private const int Descriptor = 1;

    public static void Detach()
    {
        using var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
        var added = false;
        devNull.DangerousAddRef(ref added);
        try
        {
            if (Dup2((int)devNull.DangerousGetHandle(), Descriptor) < 0)
            {
                throw new IOException($"dup2 onto stdout failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            if (added)
            {
                devNull.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int from, int to);
}
