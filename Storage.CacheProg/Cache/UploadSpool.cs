using System.Text;

namespace Storage.CacheProg.Cache;

/// <summary>
/// One build's puts, handed on for upload: where to (the remote's identity) and the action ids; and the build's
/// manifest to publish once they are up (<see cref="BuildManifest"/>; empty when the build never looked past its local tier).
/// </summary>
public sealed record SpooledUploads(string Path, string Destination, IReadOnlyList<byte[]> ActionIds, IReadOnlyList<byte[]> Manifest);

/// <summary>
/// Uploads handed from a direct-mode build to the worker of the same local tier: a file per build in
/// <c>spool/</c>, a first line naming the remote they are for, then one action id (hex) per line, then, after a line
/// <c>manifest</c>, the build's manifest the same way. A file is written
/// under a temporary name and renamed, so a reader never sees half of one; the bodies and entries it names are the
/// local tier's own. It is deleted once every upload it lists is done, so a worker that dies leaves it to the next.
/// </summary>
public sealed class UploadSpool
{
    public const string Extension = ".uploads";

    /// <summary>A build uploading its own spool (<c>--no-worker</c>): workers leave it alone unless it is handed on.</summary>
    public const string OwnExtension = ".pending";

    private const string ManifestLine = "manifest";

    public UploadSpool(string cacheDirectory)
    {
        Folder = System.IO.Path.Combine(cacheDirectory, "spool");
        Directory.CreateDirectory(Folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Folder { get; }

    /// <summary>Where a remote's uploads go, as one line: two spools name the same remote exactly when these agree.</summary>
    public static string DestinationOf(CacheProgOptions options) => $"{options.Endpoint} {options.Bucket} {options.Prefix}";

    /// <summary>Writes a build's list; <paramref name="forWorkers"/>: under the name workers take, else as the build's own.</summary>
    public SpooledUploads Write(string destination, IReadOnlyList<byte[]> actionIds, IReadOnlyList<byte[]> manifest, bool forWorkers = true)
    {
        var text = new StringBuilder(destination.Length + 1 + ((actionIds.Count + manifest.Count + 1) * 65)).Append(destination).Append('\n');
        foreach (var id in actionIds)
        {
            text.Append(Convert.ToHexStringLower(id)).Append('\n');
        }

        if (manifest.Count > 0)
        {
            text.Append(ManifestLine).Append('\n');
            foreach (var id in manifest)
            {
                text.Append(Convert.ToHexStringLower(id)).Append('\n');
            }
        }

        var name = $"{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Guid.NewGuid():N}";
        var temporary = System.IO.Path.Combine(Folder, name + ".tmp");
        var path = System.IO.Path.Combine(Folder, name + (forWorkers ? Extension : OwnExtension));
        File.WriteAllText(temporary, text.ToString());
        File.Move(temporary, path);
        return new SpooledUploads(path, destination, actionIds, manifest);
    }

    /// <summary>Gives a build's own list to workers (what it could not upload in time), if it is still there.</summary>
    public static void HandToWorkers(SpooledUploads spooled)
    {
        if (spooled.Path.EndsWith(OwnExtension, StringComparison.Ordinal) && File.Exists(spooled.Path))
        {
            File.Move(spooled.Path, System.IO.Path.ChangeExtension(spooled.Path, Extension));
        }
    }

    /// <summary>The spool file's contents; null when it is gone or unreadable (a malformed id line is skipped).</summary>
    public static SpooledUploads? Read(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (lines.Length == 0)
        {
            return null;
        }

        var ids = new List<byte[]>(lines.Length - 1);
        var manifest = new List<byte[]>();
        var current = ids;
        foreach (var line in lines.AsSpan(1))
        {
            var id = new byte[32];
            if (line == ManifestLine)
            {
                current = manifest;
            }
            else if (line.Length == 64 && Convert.FromHexString(line, id, out _, out var written) == System.Buffers.OperationStatus.Done && written == id.Length)
            {
                current.Add(id);
            }
        }

        return new SpooledUploads(path, lines[0], ids, manifest);
    }

    /// <summary>Spool files for <paramref name="destination"/>, oldest first.</summary>
    public IEnumerable<string> Pending(string destination) =>
        Directory.EnumerateFiles(Folder, "*" + Extension).Order(StringComparer.Ordinal).Where(path => FirstLine(path) == destination);

    private static string? FirstLine(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            return reader.ReadLine();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
