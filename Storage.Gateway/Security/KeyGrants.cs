using Storage.Gateway.Api.S3;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Security;

/// <summary>What a key may do in a bucket; each level includes the ones before it.</summary>
public enum S3Access
{
    /// <summary>Read and list objects, their tags and versions, and the bucket's settings.</summary>
    Read = 1,

    /// <summary>Also write and delete objects, their tags and multipart uploads.</summary>
    Write = 2,

    /// <summary>Also create and delete the bucket and change its settings (versioning, lifecycle, policy).</summary>
    Admin = 3,
}

/// <summary>The grants of one access key, resolved for look-ups on every request.</summary>
public sealed class KeyGrants
{
    private readonly (string Pattern, S3Access Access)[] _grants;

    private KeyGrants(bool administrator, (string Pattern, S3Access Access)[] grants)
    {
        IsAdministrator = administrator;
        _grants = grants;
    }

    /// <summary>The generated key of the embedded default, and any key configured as an administrator.</summary>
    public static KeyGrants Administrator { get; } = new(true, []);

    public bool IsAdministrator { get; }

    public static KeyGrants From(S3Credential credential) =>
        credential.Administrator ? Administrator : new(false, [.. credential.Grants.Select(g => (g.Bucket, g.Access))]);

    /// <summary>The highest level any grant gives on the bucket; null when none names it.</summary>
    public S3Access? AccessTo(string bucket)
    {
        if (IsAdministrator)
        {
            return S3Access.Admin;
        }

        S3Access? best = null;
        foreach (var (pattern, access) in _grants)
        {
            if (access > best.GetValueOrDefault() && Matches(pattern, bucket))
            {
                best = access;
            }
        }

        return best;
    }

    public bool Allows(string bucket, S3Access needed) => AccessTo(bucket) >= needed;

    /// <summary>A bucket name, a prefix of bucket names followed by <c>*</c>, or <c>*</c>.</summary>
    public static bool IsValidPattern(string pattern) =>
        pattern == "*"
        || BucketNames.IsValid(pattern)
        || (pattern.Length is >= 2 and <= 63 && pattern[^1] == '*' && (char.IsAsciiLetterLower(pattern[0]) || char.IsAsciiDigit(pattern[0]))
            && pattern[..^1].All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'));

    private static bool Matches(string pattern, string bucket) =>
        pattern[^1] == '*' ? bucket.StartsWith(pattern.AsSpan(0, pattern.Length - 1), StringComparison.Ordinal) : pattern == bucket;
}
