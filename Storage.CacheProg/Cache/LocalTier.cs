using System.Buffers;

namespace Storage.CacheProg.Cache;

/// <summary>
/// A hit: the entry, the absolute path of its body, and when the entry was last written to the remote as far as this
/// tier knows (a local hit: the entry file's modification time, set by a put, a download or <see cref="LocalTier.MarkWritten"/>;
/// a remote hit: the remote copy's Last-Modified).
/// </summary>
public sealed record LocalEntry(ActionEntry Entry, string DiskPath, DateTime WrittenUtc);

/// <summary>
/// The local disk tier, in the workshop layout: bodies as <c>&lt;OutputID hex&gt;-d</c> and action entries as
/// <c>&lt;ActionID hex&gt;-a.json</c> in one folder. Bodies are written to a temporary file and renamed, so a name
/// holds a complete body while the machine runs and DiskPaths stay valid after the session closes; what a power cut
/// could leave half-written is found and removed by <see cref="LocalDurability"/>. A hit refreshes the body's
/// modification time, which least-recently-used trimming goes by.
/// </summary>
public sealed class LocalTier : IDisposable
{
    /// <summary>How far a file's time may lag its marker's (clocks of a file system may be coarse).</summary>
    private static readonly TimeSpan ClockSlack = TimeSpan.FromSeconds(2);

    /// <summary>How stale a hit's last-used time may be before the hit renews it (trimming removes the least recent first).</summary>
    private static readonly TimeSpan RecencyResolution = TimeSpan.FromHours(1);

    /// <summary>What one read of an entry file asks for: more than any entry without an inline body needs.</summary>
    private const int EntryReadBytes = 16 * 1024;

    public const string BodySuffix = "-d";
    public const string ActionSuffix = "-a.json";

    private readonly string _temporary;

    public LocalTier(string root, long maxBytes)
    {
        Root = Path.GetFullPath(root);
        MaxBytes = maxBytes;
        _temporary = Path.Combine(Root, "tmp");
        var owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(Root, owner);
        Directory.CreateDirectory(_temporary, owner);
        Durability = new LocalDurability(Root, RepairSince);
    }

    /// <summary>The markers and flushes that keep what this process names crash-safe.</summary>
    public LocalDurability Durability { get; }

    public string Root { get; }

    public long MaxBytes { get; }

    public string NewTemporaryPath() => Path.Combine(_temporary, Guid.NewGuid().ToString("N"));

    public string BodyPath(string outputIdHex) => Path.Combine(Root, outputIdHex + BodySuffix);

    /// <summary>Whether the entry's body is here with the recorded size.</summary>
    public bool HasBody(ActionEntry entry) => new FileInfo(BodyPath(entry.OutputID)) is { Exists: true } body && body.Length == entry.Size;

    /// <summary>The entry and its body, if both are here and the body has the recorded size.</summary>
    public LocalEntry? Get(byte[] actionId)
    {
        ActionEntry? parsed;
        DateTime written;
        var buffer = ArrayPool<byte>.Shared.Rent(EntryReadBytes);
        try
        {
            // Open, read, fstat for the time, close: the system calls File.ReadAllBytes makes (its fstat is for the length),
            // since the hit path is counted in them. A short read of a regular file is its end.
            using var handle = File.OpenHandle(ActionPath(actionId));
            var length = RandomAccess.Read(handle, buffer, 0);
            if (length == buffer.Length)
            {
                // An entry carrying a large inline body (copied from a remote layout): read it whole.
                var whole = new byte[RandomAccess.GetLength(handle)];
                length = RandomAccess.Read(handle, whole, 0);
                parsed = ActionEntry.Parse(whole.AsSpan(0, length));
            }
            else
            {
                parsed = ActionEntry.Parse(buffer.AsSpan(0, length));
            }

            written = File.GetLastWriteTimeUtc(handle);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (parsed is not { } entry)
        {
            return null;
        }

        // A local entry never needs a body of its own (one copied in from a remote layout may carry it).
        if (entry.Body is not null)
        {
            entry = entry with { Body = null };
        }

        var body = new FileInfo(BodyPath(entry.OutputID));
        if (!body.Exists || body.Length != entry.Size)
        {
            return null;
        }

        // Recency is a hint for trimming, kept to the hour: a warm build then costs no system call per hit for it.
        var now = DateTime.UtcNow;
        if (now - body.LastWriteTimeUtc > RecencyResolution)
        {
            try
            {
                body.LastWriteTimeUtc = now;
            }
            catch (IOException)
            {
                // A hit is still a hit.
            }
        }

        return new LocalEntry(entry, body.FullName, written);
    }

    /// <summary>Records that the entry was written to the remote now, as its file's modification time, which decides when a hit writes it there again.</summary>
    public void MarkWritten(byte[] actionId)
    {
        try
        {
            File.SetLastWriteTimeUtc(ActionPath(actionId), DateTime.UtcNow);
        }
        catch (IOException)
        {
            // Only a hint: at worst the entry is written to the remote again sooner.
        }
    }

    /// <summary>Makes a verified temporary file the body for its OutputID and records the action.</summary>
    public async Task<string> PutAsync(byte[] actionId, ActionEntry entry, string temporaryPath, CancellationToken cancellationToken)
    {
        var bodyPath = BodyPath(entry.OutputID);
        using (await Durability.NamingAsync(cancellationToken))
        {
            if (HasBody(entry))
            {
                File.Delete(temporaryPath);
            }
            else
            {
                File.Move(temporaryPath, bodyPath, overwrite: true);
            }
        }

        await WriteActionAsync(actionId, entry, cancellationToken);
        return bodyPath;
    }

    public async Task WriteActionAsync(byte[] actionId, ActionEntry entry, CancellationToken cancellationToken)
    {
        var temporary = NewTemporaryPath();
        File.WriteAllBytes(temporary, entry.ToJson());
        using (await Durability.NamingAsync(cancellationToken))
        {
            File.Move(temporary, ActionPath(actionId), overwrite: true);
        }
    }

    /// <summary>
    /// After a process ended before flushing: removes bodies written since <paramref name="since"/> that do not hash to
    /// their OutputID and entries that do not parse (a power cut can leave a name over blocks never written).
    /// </summary>
    private int RepairSince(DateTime since)
    {
        var removed = 0;
        var from = since == DateTime.MinValue ? since : since - ClockSlack;
        foreach (var file in new DirectoryInfo(Root).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc < from || !(IsBody(file) || file.Name.EndsWith(ActionSuffix, StringComparison.Ordinal)) || IsIntact(file))
            {
                continue;
            }

            file.Delete();
            removed++;
        }

        return removed;
    }

    private static bool IsBody(FileInfo file) => file.Name.EndsWith(BodySuffix, StringComparison.Ordinal);

    private static bool IsIntact(FileInfo file)
    {
        try
        {
            if (!IsBody(file))
            {
                return ActionEntry.Parse(File.ReadAllBytes(file.FullName)) is not null;
            }

            using var body = file.OpenRead();
            return string.Equals(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)), file.Name[..^BodySuffix.Length], StringComparison.OrdinalIgnoreCase);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Size and count of the bodies held.</summary>
    public (long Bytes, int Bodies) Measure()
    {
        var bodies = Bodies().ToList();
        return (bodies.Sum(b => b.Length), bodies.Count);
    }

    /// <summary>
    /// Deletes least recently used bodies until the tier is under 90 % of its limit; returns bytes freed. Bodies used
    /// within the last <see cref="RecencyResolution"/> are never deleted: a hit renews a body's time only once that is
    /// over the resolution old, so among them the order says nothing, and a build running now may be reading any of
    /// them. (The limit is then exceeded until they age; it is a soft limit.)
    /// </summary>
    public long Trim()
    {
        if (MaxBytes <= 0)
        {
            return 0;
        }

        var bodies = Bodies().ToList();
        var total = bodies.Sum(b => b.Length);
        if (total <= MaxBytes)
        {
            return 0;
        }

        long freed = 0;
        var inUse = DateTime.UtcNow - RecencyResolution;
        foreach (var body in bodies.Where(b => b.LastWriteTimeUtc < inUse).OrderBy(b => b.LastWriteTimeUtc))
        {
            if (total - freed <= MaxBytes * 9 / 10)
            {
                break;
            }

            try
            {
                // The length before the delete: a deleted FileInfo refreshes and throws, which counted nothing freed
                // and let one trim delete every body instead of stopping at 90 % of the limit.
                var length = body.Length;
                body.Delete();
                freed += length;
            }
            catch (IOException)
            {
                // In use or already gone; the next trim sees it again.
            }
        }

        // Action entries whose bodies are gone are misses anyway; they are small and overwritten on the next put.
        return freed;
    }

    private IEnumerable<FileInfo> Bodies() =>
        new DirectoryInfo(Root).EnumerateFiles("*" + BodySuffix, SearchOption.TopDirectoryOnly);

    private string ActionPath(byte[] actionId) => Path.Combine(Root, Convert.ToHexStringLower(actionId) + ActionSuffix);

    public void Dispose() => Durability.Dispose();
}
