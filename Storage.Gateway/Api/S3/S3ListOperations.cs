using System.Globalization;
using System.Xml.Linq;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// ListObjectsV2, ListObjects (v1) and ListObjectVersions: prefix, delimiter with common prefixes, max-keys, markers
/// and tokens, encoding-type=url.
/// </summary>
public sealed class S3ListOperations(ObjectStore store, S3BucketOperations buckets)
{
    private const int MaxKeys = 1000;

    /// <summary>Sorts after every key continuing a common prefix (valid UTF-8 never has a byte above 0xF4).</summary>
    private const string AfterEverything = "\U0010FFFF";

    public async Task ListV2Async(S3Context context)
    {
        var request = await ParseAsync(context);
        string? after = request.StartAfter = context.Query("start-after");
        if (context.Query("continuation-token") is { } token)
        {
            after = ContinuationToken.Decode(token);
        }

        var page = await WalkAsync(context.Bucket!, request, after, context.Aborted);
        var fetchOwner = string.Equals(context.Query("fetch-owner"), "true", StringComparison.OrdinalIgnoreCase);
        var result = Result(context, request, page, fetchOwner,
            S3Xml.Element("KeyCount", page.Contents.Count + page.CommonPrefixes.Count),
            context.Query("continuation-token") is { } sent ? S3Xml.Element("ContinuationToken", sent) : null,
            request.StartAfter is { } startAfter ? S3Xml.Element("StartAfter", request.Encode(startAfter)) : null,
            page.IsTruncated ? S3Xml.Element("NextContinuationToken", ContinuationToken.Encode(page.Last!)) : null);
        await S3Xml.WriteAsync(context.Response, result, context.Aborted);
    }

    public async Task ListV1Async(S3Context context)
    {
        var request = await ParseAsync(context);
        var marker = context.Query("marker");
        var page = await WalkAsync(context.Bucket!, request, marker, context.Aborted);
        var result = Result(context, request, page, fetchOwner: true,
            S3Xml.Element("Marker", request.Encode(marker ?? string.Empty)),
            page.IsTruncated && request.Delimiter.Length > 0 ? S3Xml.Element("NextMarker", request.Encode(page.Last!)) : null);
        await S3Xml.WriteAsync(context.Response, result, context.Aborted);
    }

    /// <summary>
    /// Versions and delete markers by key, each key's newest first, with key-marker and version-id-marker for paging (a
    /// bucket never versioned lists each object once, as its null version).
    /// </summary>
    public async Task ListVersionsAsync(S3Context context)
    {
        var request = await ParseAsync(context);
        var keyMarker = context.Query("key-marker") is { Length: > 0 } key ? key : null;
        var versionMarker = context.Query("version-id-marker") is { Length: > 0 } version ? version : null;
        if (versionMarker is not null && (keyMarker is null || !ObjectStore.IsVersionId(versionMarker)))
        {
            throw S3Exception.InvalidArgument(keyMarker is null ? "A version-id marker cannot be specified without a key marker." : "Invalid version id specified.");
        }

        // Continuing after a common prefix means continuing after every key it stands for.
        var cursor = keyMarker switch
        {
            null => null,
            _ when versionMarker is not null => new VersionCursor(keyMarker, AfterAllVersions: false, S3ObjectOperations.VersionIdFrom(versionMarker)),
            _ when CommonPrefixOf(keyMarker, request) == keyMarker => new VersionCursor(keyMarker + AfterEverything, AfterAllVersions: true),
            _ => new VersionCursor(keyMarker, AfterAllVersions: true),
        };
        var page = await WalkVersionsAsync(context.Bucket!, request, cursor, context.Aborted);
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("ListVersionsResult",
            S3Xml.Element("Name", context.Bucket),
            S3Xml.Element("Prefix", request.Encode(request.Prefix)),
            S3Xml.Element("KeyMarker", request.Encode(keyMarker ?? string.Empty)),
            S3Xml.Element("VersionIdMarker", versionMarker ?? string.Empty),
            page.IsTruncated ? S3Xml.Element("NextKeyMarker", request.Encode(page.LastKey!)) : null,
            page.IsTruncated && page.LastVersionId is { } lastVersion ? S3Xml.Element("NextVersionIdMarker", lastVersion) : null,
            request.Delimiter.Length > 0 ? S3Xml.Element("Delimiter", request.Encode(request.Delimiter)) : null,
            S3Xml.Element("MaxKeys", request.MaxKeys),
            request.UrlEncoded ? S3Xml.Element("EncodingType", "url") : null,
            S3Xml.Element("IsTruncated", page.IsTruncated ? "true" : "false"),
            page.Versions.Select(v => v.Record.IsDeleteMarker
                ? S3Xml.Element("DeleteMarker",
                    S3Xml.Element("Key", request.Encode(v.Record.Key)),
                    S3Xml.Element("VersionId", v.Record.VersionIdText),
                    S3Xml.Element("IsLatest", v.IsLatest ? "true" : "false"),
                    S3Xml.Element("LastModified", S3Xml.Timestamp(v.Record.LastModified)),
                    S3Xml.Owner(S3BucketOperations.Owner))
                : S3Xml.Element("Version",
                    S3Xml.Element("Key", request.Encode(v.Record.Key)),
                    S3Xml.Element("VersionId", v.Record.VersionIdText),
                    S3Xml.Element("IsLatest", v.IsLatest ? "true" : "false"),
                    S3Xml.Element("LastModified", S3Xml.Timestamp(v.Record.LastModified)),
                    S3Xml.Element("ETag", $"\"{v.Record.ETag}\""),
                    S3Xml.Element("Size", v.Record.Size),
                    v.Record.Checksum is { } checksum ? S3Xml.Element("ChecksumAlgorithm", checksum.Algorithm) : null,
                    S3Xml.Element("StorageClass", "STANDARD"),
                    S3Xml.Owner(S3BucketOperations.Owner))),
            page.CommonPrefixes.Select(p => S3Xml.Element("CommonPrefixes", S3Xml.Element("Prefix", request.Encode(p))))), context.Aborted);
    }

    private static XElement Result(S3Context context, ListRequest request, ListPage page, bool fetchOwner, params object?[] extra) =>
        S3Xml.Element("ListBucketResult",
            S3Xml.Element("Name", context.Bucket),
            S3Xml.Element("Prefix", request.Encode(request.Prefix)),
            request.Delimiter.Length > 0 ? S3Xml.Element("Delimiter", request.Encode(request.Delimiter)) : null,
            S3Xml.Element("MaxKeys", request.MaxKeys),
            request.UrlEncoded ? S3Xml.Element("EncodingType", "url") : null,
            S3Xml.Element("IsTruncated", page.IsTruncated ? "true" : "false"),
            extra,
            page.Contents.Select(o => S3Xml.Element("Contents",
                S3Xml.Element("Key", request.Encode(o.Key)),
                S3Xml.Element("LastModified", S3Xml.Timestamp(o.LastModified)),
                S3Xml.Element("ETag", $"\"{o.ETag}\""),
                S3Xml.Element("Size", o.Size),
                o.Checksum is { } checksum ? S3Xml.Element("ChecksumAlgorithm", checksum.Algorithm) : null,
                S3Xml.Element("StorageClass", "STANDARD"),
                fetchOwner ? S3Xml.Owner(S3BucketOperations.Owner) : null)),
            page.CommonPrefixes.Select(p => S3Xml.Element("CommonPrefixes", S3Xml.Element("Prefix", request.Encode(p)))));

    private async Task<ListRequest> ParseAsync(S3Context context)
    {
        await buckets.RequireAsync(context);
        var maxKeys = MaxKeys;
        if (context.Query("max-keys") is { } text && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out maxKeys) || maxKeys < 0))
        {
            throw S3Exception.InvalidArgument("max-keys must be a number from 0 to 2147483647.");
        }

        var encoding = context.Query("encoding-type");
        if (encoding is not (null or "url"))
        {
            throw S3Exception.InvalidArgument("Invalid Encoding Method specified in Request: encoding-type must be url.");
        }

        return new ListRequest(context.Query("prefix") ?? string.Empty, context.Query("delimiter") ?? string.Empty, Math.Min(maxKeys, MaxKeys), encoding == "url");
    }

    /// <summary>
    /// Reads keys in order from <paramref name="after"/>, folding keys that contain the delimiter after the prefix
    /// into one common prefix each, and jumping past the rest of a common prefix instead of reading its keys.
    /// </summary>
    private async Task<ListPage> WalkAsync(string bucket, ListRequest request, string? after, CancellationToken cancellationToken)
    {
        var page = new ListPage();

        // Continuing after a common prefix means continuing after every key it stands for.
        var cursor = after is not null && CommonPrefixOf(after, request) == after ? after + AfterEverything : after;
        while (request.MaxKeys > 0)
        {
            var records = await store.ListAsync(bucket, request.Prefix, cursor, MaxKeys, cancellationToken);
            var jumped = false;
            foreach (var record in records)
            {
                cursor = record.Key;
                var commonPrefix = CommonPrefixOf(record.Key, request);
                if (commonPrefix is not null && commonPrefix == page.CommonPrefixes.LastOrDefault())
                {
                    continue;
                }

                if (page.Count == request.MaxKeys)
                {
                    page.IsTruncated = true;
                    return page;
                }

                if (commonPrefix is null)
                {
                    page.Contents.Add(record);
                    page.Last = record.Key;
                    continue;
                }

                page.CommonPrefixes.Add(commonPrefix);
                page.Last = commonPrefix;
                cursor = commonPrefix + AfterEverything;
                jumped = true;
                break;
            }

            if (!jumped && records.Count < MaxKeys)
            {
                break;
            }
        }

        return page;
    }

    /// <summary>The walk of <see cref="WalkAsync"/> over versions: a common prefix stands for every version of its keys.</summary>
    private async Task<VersionPage> WalkVersionsAsync(string bucket, ListRequest request, VersionCursor? cursor, CancellationToken cancellationToken)
    {
        var page = new VersionPage();
        while (request.MaxKeys > 0)
        {
            var versions = await store.ListVersionsAsync(bucket, request.Prefix, cursor, MaxKeys, cancellationToken);
            var jumped = false;
            foreach (var version in versions)
            {
                cursor = new VersionCursor(version.Record.Key, AfterAllVersions: false, version.Record.VersionId);
                if (page.Count == request.MaxKeys)
                {
                    page.IsTruncated = true;
                    return page;
                }

                if (CommonPrefixOf(version.Record.Key, request) is not { } commonPrefix)
                {
                    page.Versions.Add(version);
                    (page.LastKey, page.LastVersionId) = (version.Record.Key, version.Record.VersionIdText);
                    continue;
                }

                page.CommonPrefixes.Add(commonPrefix);
                (page.LastKey, page.LastVersionId) = (commonPrefix, null);
                cursor = new VersionCursor(commonPrefix + AfterEverything, AfterAllVersions: true);
                jumped = true;
                break;
            }

            if (!jumped && versions.Count < MaxKeys)
            {
                break;
            }
        }

        return page;
    }

    private static string? CommonPrefixOf(string key, ListRequest request)
    {
        if (request.Delimiter.Length == 0 || !key.StartsWith(request.Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var index = key.IndexOf(request.Delimiter, request.Prefix.Length, StringComparison.Ordinal);
        return index < 0 ? null : key[..(index + request.Delimiter.Length)];
    }

    private sealed record ListRequest(string Prefix, string Delimiter, int MaxKeys, bool UrlEncoded)
    {
        public string? StartAfter { get; set; }

        /// <summary>encoding-type=url: each path segment percent-encoded (clients decode with unquote_plus, so '+' must be encoded).</summary>
        public string Encode(string value) => UrlEncoded ? string.Join('/', value.Split('/').Select(SigV4.Encode)) : value;
    }

    private sealed class VersionPage
    {
        public List<ObjectVersion> Versions { get; } = [];

        public List<string> CommonPrefixes { get; } = [];

        public bool IsTruncated { get; set; }

        /// <summary>The last key (with its version id) or common prefix (without) returned: where the next page continues.</summary>
        public string? LastKey { get; set; }

        public string? LastVersionId { get; set; }

        public int Count => Versions.Count + CommonPrefixes.Count;
    }

    private sealed class ListPage
    {
        public List<ObjectRecord> Contents { get; } = [];

        public List<string> CommonPrefixes { get; } = [];

        public bool IsTruncated { get; set; }

        /// <summary>The last key or common prefix returned: where the next page continues.</summary>
        public string? Last { get; set; }

        public int Count => Contents.Count + CommonPrefixes.Count;
    }
}
