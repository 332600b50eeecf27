using System.Net;
using System.Text.RegularExpressions;

namespace Storage.Gateway.Api.S3;

/// <summary>S3's bucket naming rules (general-purpose buckets), plus the gateway's reserved path names.</summary>
public static partial class BucketNames
{
    private static readonly System.Buffers.SearchValues<char> DigitsAndDots = System.Buffers.SearchValues.Create("0123456789.");

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex Shape();

    public static bool IsValid(string name) =>
        Shape().IsMatch(name)
        && !name.Contains("..", StringComparison.Ordinal)
        && !name.StartsWith("xn--", StringComparison.Ordinal)
        && !name.EndsWith("-s3alias", StringComparison.Ordinal)
        && !LooksLikeIpAddress(name)
        && !S3Context.ReservedNames.Contains(name);

    /// <summary>Only digits and dots can be an IPv4 address; the parser runs only then.</summary>
    private static bool LooksLikeIpAddress(string name) => !name.AsSpan().ContainsAnyExcept(DigitsAndDots) && IPAddress.TryParse(name, out _);

    public static string Rules =>
        "Bucket names are 3-63 lower-case letters, digits, dots and hyphens, start and end with a letter or digit, are not IP addresses, "
        + $"and are not one of the gateway's own paths ({string.Join(", ", S3Context.ReservedNames.Order(StringComparer.Ordinal))}).";
}
