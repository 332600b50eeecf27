using System.Runtime.InteropServices;

namespace Storage.CacheProg.Commands;

/// <summary>
/// Lets go of the protocol's pipe. The go command waits for EOF on this process's stdout after close; pointing
/// descriptor 1, and every copy of it, at /dev/null ends the build's wait while this process finishes its own work
/// (handing uploads over, the stats history, trimming). Copies exist: the runtime's <c>Console.Out</c> holds a
/// duplicate of descriptor 1 once anything touched it (the command-line parser does), and the pipe stays open while
/// any copy does.
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
            foreach (var descriptor in CopiesOfStandardOutput())
            {
                if (Dup2((int)devNull.DangerousGetHandle(), descriptor) < 0)
                {
                    throw new IOException($"dup2 onto descriptor {descriptor} failed (errno {Marshal.GetLastPInvokeError()})");
                }
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

    /// <summary>Descriptor 1 and every descriptor open on the same file (Linux names them in /proc/self/fd).</summary>
    private static int[] CopiesOfStandardOutput()
    {
        const string Descriptors = "/proc/self/fd";
        if (!Directory.Exists(Descriptors) || new FileInfo($"{Descriptors}/{Descriptor}").LinkTarget is not { } pipe || pipe == "/dev/null")
        {
            return [Descriptor];
        }

        return Directory.GetFiles(Descriptors)
            .Select(path => (Number: int.TryParse(Path.GetFileName(path), out var number) ? number : -1, Target: new FileInfo(path).LinkTarget))
            .Where(fd => fd.Number >= 0 && fd.Target == pipe)
            .Select(fd => fd.Number)
            .Append(Descriptor)
            .Distinct()
            .ToArray();
    }

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Dup2(int from, int to);
}
