using System.Globalization;

namespace Storage.Gateway.Objects;

/// <summary>
/// One HTTP byte range (<c>bytes=a-b</c>, <c>bytes=a-</c>, <c>bytes=-n</c>), resolved against an object's size.
/// Multiple ranges are not supported (as in S3).
/// </summary>
public readonly record struct ByteRange(long? First, long? Last, long? SuffixLength)
{
    public static bool TryParse(string? header, out ByteRange range)
    {
        range = default;
        if (header is null || !header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var spec = header.AsSpan(6).Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0 || spec.Contains(','))
        {
            return false;
        }

        var firstText = spec[..dash].Trim();
        var lastText = spec[(dash + 1)..].Trim();
        if (firstText.IsEmpty)
        {
            if (!long.TryParse(lastText, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
            {
                return false;
            }

            range = new ByteRange(null, null, suffix);
            return true;
        }

        if (!long.TryParse(firstText, NumberStyles.None, CultureInfo.InvariantCulture, out var first))
        {
            return false;
        }

        if (lastText.IsEmpty)
        {
            range = new ByteRange(first, null, null);
            return true;
        }

        if (!long.TryParse(lastText, NumberStyles.None, CultureInfo.InvariantCulture, out var last) || last < first)
        {
            return false;
        }

        range = new ByteRange(first, last, null);
        return true;
    }

    /// <summary>The (offset, length) this range selects in an object of <paramref name="size"/> bytes, or null when unsatisfiable.</summary>
    public (long Offset, long Length)? Resolve(long size)
    {
        if (SuffixLength is { } suffix)
        {
            return suffix == 0 || size == 0 ? null : (Math.Max(0, size - suffix), Math.Min(suffix, size));
        }

        var first = First!.Value;
        if (first >= size)
        {
            return null;
        }

        var last = Math.Min(Last ?? (size - 1), size - 1);
        return (first, last - first + 1);
    }
}
