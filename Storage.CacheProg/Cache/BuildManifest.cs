using System.Globalization;

namespace Storage.CacheProg.Cache;

/// <summary>
/// The action ids one build asked for or stored, in that order (a warm build asks for what a cold one stored). A
/// build that had to look past its local tier publishes its manifest to the remote (<c>&lt;prefix&gt;manifests/</c>),
/// and the next build that finds its local tier without an entry fetches the newest manifests and downloads what they
/// name, many at a time, before the go command asks for it: the go command asks one action at a time per package it
/// builds, so on an empty local tier its waits for the remote add up, and a prefetch turns them into local hits.
/// Binary: a header line, then 32 bytes per id.
/// </summary>
public static class BuildManifest
{
    /// <summary>Under the remote's prefix; not an action entry or body, so other tools of the layout ignore it.</summary>
    public const string Folder = "manifests/";

    /// <summary>A build asks for a few thousand; more than this is not a manifest of ours.</summary>
    public const int MaxIds = 200_000;

    private const int IdLength = 32;

    private static ReadOnlySpan<byte> Header => "storage-cacheprog manifest 1\n"u8;

    public static byte[] Serialize(IReadOnlyList<byte[]> actionIds)
    {
        var count = Math.Min(actionIds.Count, MaxIds);
        var data = new byte[Header.Length + (count * IdLength)];
        Header.CopyTo(data);
        for (var i = 0; i < count; i++)
        {
            actionIds[i].CopyTo(data, Header.Length + (i * IdLength));
        }

        return data;
    }

    /// <summary>The ids, or null when <paramref name="data"/> is not a manifest (another tool's object, or cut short).</summary>
    public static IReadOnlyList<byte[]>? Parse(ReadOnlySpan<byte> data)
    {
        if (!data.StartsWith(Header) || (data.Length - Header.Length) % IdLength != 0 || (data.Length - Header.Length) / IdLength > MaxIds)
        {
            return null;
        }

        var ids = new byte[(data.Length - Header.Length) / IdLength][];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = data.Slice(Header.Length + (i * IdLength), IdLength).ToArray();
        }

        return ids;
    }

    /// <summary>A new manifest's name: S3 lists keys in order, and the newest sorts first (the time counts down).</summary>
    public static string NameFor(DateTimeOffset now) =>
        Folder + (long.MaxValue - now.ToUnixTimeMilliseconds()).ToString("D19", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..12];
}
