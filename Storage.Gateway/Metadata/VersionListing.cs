using System.Text;

namespace Storage.Gateway.Metadata;

/// <summary>
/// A version listing as both stores assemble it: current versions (one per key) and noncurrent ones (each key's newest
/// first) are kept apart, read as two ordered ranges and merged here, a key's current version before its older ones.
/// </summary>
public static class VersionListing
{
    public static IReadOnlyList<ObjectVersion> Merge(IReadOnlyList<ObjectRecord> currents, IReadOnlyList<ObjectVersion> noncurrents, int limit)
    {
        var merged = new List<ObjectVersion>(Math.Min(limit, currents.Count + noncurrents.Count));
        int c = 0, n = 0;
        while (merged.Count < limit && (c < currents.Count || n < noncurrents.Count))
        {
            var takeCurrent = n == noncurrents.Count
                || (c < currents.Count && CompareKeys(currents[c].Key, noncurrents[n].Record.Key) <= 0);
            merged.Add(takeCurrent ? new ObjectVersion(currents[c++], IsLatest: true) : noncurrents[n++]);
        }

        return merged;
    }

    /// <summary>
    /// The cursor's key's current version to list again, when the cursor names no noncurrent version: none when it names
    /// the current one (listed already); the current one otherwise (the cursor's version is gone, and removing a current
    /// version promotes the next, which a listing must not skip).
    /// </summary>
    public static ObjectRecord? Relisted(ObjectRecord? current, VersionCursor after, string prefix) =>
        current is not null && current.VersionId != after.VersionId && current.Key.StartsWith(prefix, StringComparison.Ordinal) ? current with { Inline = null } : null;

    /// <summary>S3's key order: ordinal on UTF-8 bytes (which UTF-16 ordinal order is not, beyond the BMP).</summary>
    public static int CompareKeys(string a, string b)
    {
        if (Ascii.IsValid(a) && Ascii.IsValid(b))
        {
            return string.CompareOrdinal(a, b);
        }

        return Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b));
    }
}
