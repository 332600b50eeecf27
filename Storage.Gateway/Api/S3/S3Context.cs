using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// One S3 request: the addressed bucket and key taken from the request line exactly as sent (Kestrel's normalised
/// path would turn <c>a/../b</c> into <c>b</c>), the verified signature, and a request id for errors and logs.
/// </summary>
public sealed class S3Context
{
    /// <summary>First path segments that belong to the gateway's other APIs, never to a bucket.</summary>
    public static readonly IReadOnlySet<string> ReservedNames = new HashSet<string>(StringComparer.Ordinal) { "object", "api", "admin", "health", "alive" };

    private S3Context(HttpContext http, string rawPath, string rawQuery, string? bucket, string? key)
    {
        Http = http;
        RawPath = rawPath;
        RawQuery = rawQuery;
        Bucket = bucket;
        Key = key;
        RequestId = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.NextInt64()));
    }

    public HttpContext Http { get; }

    public HttpRequest Request => Http.Request;

    public HttpResponse Response => Http.Response;

    public CancellationToken Aborted => Http.RequestAborted;

    /// <summary>The path as on the request line (see <see cref="RequestTarget"/>), still percent-encoded.</summary>
    public string RawPath { get; }

    /// <summary>The query as on the request line, without '?'.</summary>
    public string RawQuery { get; }

    public string? Bucket { get; }

    /// <summary>The object key (decoded); null for requests on a bucket or on the service.</summary>
    public string? Key { get; }

    public string RequestId { get; }

    /// <summary>The verified signature; null for an anonymous request.</summary>
    public SigningContext? Signing { get; set; }

    /// <summary>The signing key's grants, once authorized; null for an anonymous request.</summary>
    public KeyGrants? Grants { get; set; }

    /// <summary>The addressed bucket's policy, once authorized; null when it has none.</summary>
    public Access.BucketPolicy? Policy { get; set; }

    /// <summary>Sets the bucket's CORS headers for this request's Origin on a response (again after an error clears it); null without CORS.</summary>
    public Action<HttpResponse>? CorsHeaders { get; set; }

    /// <summary>The S3 operation, once dispatched (for traces and logs).</summary>
    public string Operation { get; set; } = "Unknown";

    public string Resource => Bucket is null ? "/" : Key is null ? $"/{Bucket}" : $"/{Bucket}/{Key}";

    public string? Query(string name) => Request.Query.TryGetValue(name, out var value) ? value.ToString() : null;

    public bool Has(string name) => Request.Query.ContainsKey(name);

    public string? Header(string name) => Request.Headers.TryGetValue(name, out var value) ? value.ToString() : null;

    /// <summary>
    /// The S3 request this HTTP request is, or null when it belongs to another API: its host does not name a bucket,
    /// its first path segment is a reserved name and one of the gateway's own endpoints matched it. (A reserved name
    /// no endpoint matches stays with S3, which explains that it is no valid bucket name.)
    /// </summary>
    public static S3Context? From(HttpContext http, string? virtualHostDomain)
    {
        if (RequestTarget.Of(http) is not { } target)
        {
            return null;
        }

        var (rawPath, rawQuery) = target;
        var host = http.Request.Host.Host;
        if (!string.IsNullOrEmpty(virtualHostDomain) && host.Length > virtualHostDomain.Length + 1
            && host.EndsWith("." + virtualHostDomain, StringComparison.OrdinalIgnoreCase))
        {
            var bucket = host[..^(virtualHostDomain.Length + 1)].ToLowerInvariant();
            return new S3Context(http, rawPath, rawQuery, bucket, KeyOf(rawPath[1..]));
        }

        var path = rawPath[1..];
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        var first = Uri.UnescapeDataString(slash < 0 ? path : path[..slash]);
        if (ReservedNames.Contains(first) && http.GetEndpoint() is not null)
        {
            return null;
        }

        return first.Length == 0
            ? new S3Context(http, rawPath, rawQuery, null, null)
            : new S3Context(http, rawPath, rawQuery, first, slash < 0 ? null : KeyOf(path[(slash + 1)..]));
    }

    private static string? KeyOf(string rawKey) => rawKey.Length == 0 ? null : Uri.UnescapeDataString(rawKey);
}
