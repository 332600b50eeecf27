using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Storage.Gateway.Api.S3;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Security;

/// <summary>A verified signature: who signed, and what a streamed (aws-chunked) body's chunk signatures chain from.</summary>
public sealed record SigningContext(string AccessKey, byte[] SigningKey, string AmzDate, string Scope, string Signature, string PayloadHash);

/// <summary>
/// Verifies AWS Signature Version 4 on S3 requests, in the Authorization header or in a presigned URL's query.
/// The canonical request is rebuilt from the request line exactly as sent (never normalised), so keys with
/// <c>//</c>, <c>..</c>, <c>:</c>, spaces or any Unicode verify. Signatures are compared in constant time.
/// </summary>
public sealed class SignatureVerifier(S3Credentials credentials, IOptions<StorageOptions> options, TimeProvider time)
{
    /// <summary>Signing keys by access key, date and region: four HMACs saved per request; at most a few per key and day.</summary>
    private readonly ConcurrentDictionary<(string AccessKey, string Date, string Region), byte[]> _signingKeys = new();

    public const string StreamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    public const string StreamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
    public const string StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

    /// <summary>AWS's limit for a presigned URL's lifetime: seven days.</summary>
    private const int MaxPresignedSeconds = 604_800;

    private static readonly string[] AmzDateFormats = ["yyyyMMdd'T'HHmmss'Z'"];

    /// <summary>The request's signature, verified; null for an unsigned (anonymous) request.</summary>
    /// <param name="request">The request; its body is not read here.</param>
    /// <param name="rawPath">The path exactly as on the request line (percent-encoded by the client).</param>
    /// <param name="rawQuery">The query exactly as sent, without '?'.</param>
    /// <param name="bodyHash">
    /// The body's SHA-256 (hex) when the caller has read it: then, as in SigV4 for AWS services other than S3, a request
    /// without <c>x-amz-content-sha256</c> is signed over that hash (what curl's <c>--aws-sigv4</c> sends). S3 requests pass null.
    /// </param>
    /// <exception cref="S3Exception">The signature is malformed, wrong, expired, or for an unknown key.</exception>
    public SigningContext? Verify(HttpRequest request, string rawPath, string rawQuery, string? bodyHash = null)
    {
        if (request.Headers.Authorization is { Count: > 0 } authorization)
        {
            return VerifyHeader(request, authorization.ToString(), rawPath, rawQuery, bodyHash);
        }

        return request.Query.ContainsKey("X-Amz-Algorithm") ? VerifyPresigned(request, rawPath, rawQuery) : null;
    }

    private SigningContext VerifyHeader(HttpRequest request, string authorization, string rawPath, string rawQuery, string? bodyHash)
    {
        if (!authorization.StartsWith(SigV4.Algorithm + " ", StringComparison.Ordinal))
        {
            throw authorization.StartsWith("AWS ", StringComparison.Ordinal)
                ? S3Exception.InvalidRequest("Signature Version 2 is not supported; sign requests with AWS Signature Version 4.")
                : S3Exception.AuthorizationHeaderMalformed($"The Authorization header must use {SigV4.Algorithm}.");
        }

        var fields = authorization[(SigV4.Algorithm.Length + 1)..]
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .ToDictionary(pair => pair[0], pair => pair[1], StringComparer.Ordinal);
        if (!fields.TryGetValue("Credential", out var credential) || !fields.TryGetValue("SignedHeaders", out var signedHeaders) || !fields.TryGetValue("Signature", out var signature))
        {
            throw S3Exception.AuthorizationHeaderMalformed("The Authorization header needs Credential, SignedHeaders and Signature.");
        }

        var amzDate = request.Headers["x-amz-date"].ToString();
        var signedAt = ParseAmzDate(amzDate) ?? ParseHttpDate(request.Headers.Date.ToString(), out amzDate)
            ?? throw new S3Exception(403, "AccessDenied", "The request has no valid x-amz-date or Date header.");
        CheckSkew(signedAt);
        var payloadHash = request.Headers["x-amz-content-sha256"].ToString();
        if (payloadHash.Length == 0)
        {
            payloadHash = bodyHash ?? throw S3Exception.InvalidRequest("Missing required header for this request: x-amz-content-sha256.");
        }

        return Check(request, rawPath, CanonicalQuery(rawQuery, presigned: false), credential, signedHeaders, signature, amzDate, payloadHash);
    }

    private SigningContext VerifyPresigned(HttpRequest request, string rawPath, string rawQuery)
    {
        var query = request.Query;
        string Required(string name) => query[name] is { Count: 1 } value && value[0] is { Length: > 0 } text
            ? text
            : throw S3Exception.AuthorizationQueryParametersError($"A presigned URL needs exactly one {name} parameter.");

        if (Required("X-Amz-Algorithm") != SigV4.Algorithm)
        {
            throw S3Exception.AuthorizationQueryParametersError($"X-Amz-Algorithm must be {SigV4.Algorithm}.");
        }

        var amzDate = Required("X-Amz-Date");
        var signedAt = ParseAmzDate(amzDate) ?? throw S3Exception.AuthorizationQueryParametersError("X-Amz-Date must look like 20260101T120000Z.");
        if (!int.TryParse(Required("X-Amz-Expires"), NumberStyles.None, CultureInfo.InvariantCulture, out var expires) || expires is < 1 or > MaxPresignedSeconds)
        {
            throw S3Exception.AuthorizationQueryParametersError($"X-Amz-Expires must be a number of seconds from 1 to {MaxPresignedSeconds}.");
        }

        var now = time.GetUtcNow();
        if (signedAt - now > options.Value.S3.MaxClockSkew)
        {
            throw S3Exception.AccessDenied("The presigned URL is not valid yet.");
        }

        if (now > signedAt.AddSeconds(expires))
        {
            throw S3Exception.AccessDenied("The presigned URL has expired.");
        }

        var payloadHash = query["X-Amz-Content-Sha256"] is { Count: 1 } hash ? hash.ToString() : SigV4.UnsignedPayload;
        return Check(request, rawPath, CanonicalQuery(rawQuery, presigned: true), Required("X-Amz-Credential"), Required("X-Amz-SignedHeaders"), Required("X-Amz-Signature"), amzDate, payloadHash);
    }

    /// <summary>
    /// Verifies a browser form's signature: the hex HMAC of the base64 policy document under the signing key its
    /// <c>x-amz-credential</c> names (the policy's own conditions are the caller's to check).
    /// </summary>
    /// <exception cref="S3Exception">The credential is malformed or unknown, or the signature is wrong.</exception>
    public string VerifyPostPolicy(string credential, string amzDate, string policy, string signature)
    {
        if (ParseAmzDate(amzDate) is null)
        {
            throw S3Exception.InvalidArgument("x-amz-date must look like 20260101T120000Z.");
        }

        var (accessKey, signingKey, _) = SigningKeyFor(credential, amzDate);
        RequireSame(SigV4.Sign(signingKey, policy), signature);
        return accessKey;
    }

    /// <summary>Compared in constant time.</summary>
    private static void RequireSame(string expected, string signature)
    {
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature.ToLowerInvariant())))
        {
            throw S3Exception.SignatureDoesNotMatch("The request signature we calculated does not match the signature you provided. Check your key and signing method.");
        }
    }

    /// <summary>The access key and signing key a credential scope (<c>key/date/region/s3/aws4_request</c>) names, checked against the request's date and this region.</summary>
    private (string AccessKey, byte[] SigningKey, string Scope) SigningKeyFor(string credential, string amzDate)
    {
        // Credential = <access key>/<date>/<region>/s3/aws4_request; the access key itself may contain '/'.
        var parts = credential.Split('/');
        if (parts.Length < 5 || parts[^1] != "aws4_request" || parts[^2] != SigV4.Service)
        {
            throw S3Exception.AuthorizationHeaderMalformed($"The credential '{credential}' is not <key>/<date>/<region>/s3/aws4_request.");
        }

        var accessKey = string.Join('/', parts[..^4]);
        var (date, region) = (parts[^4], parts[^3]);
        if (date != amzDate[..8])
        {
            throw S3Exception.AuthorizationHeaderMalformed($"The credential's date {date} is not the request's date {amzDate[..8]}.");
        }

        var expectedRegion = options.Value.S3.Region;
        if (region != expectedRegion)
        {
            throw S3Exception.AuthorizationHeaderMalformed($"The region '{region}' is wrong; expecting '{expectedRegion}'.");
        }

        if (!credentials.TryGetSecret(accessKey, out var secret))
        {
            throw new S3Exception(403, "InvalidAccessKeyId", "The access key you provided does not exist in our records.");
        }

        if (_signingKeys.Count > 1024)
        {
            _signingKeys.Clear();
        }

        var signingKey = _signingKeys.GetOrAdd((accessKey, date, region), static (id, secret) => SigV4.SigningKey(secret, id.Date, id.Region), secret);
        return (accessKey, signingKey, SigV4.Scope(date, region));
    }

    private SigningContext Check(HttpRequest request, string rawPath, string canonicalQuery, string credential, string signedHeaders, string signature, string amzDate, string payloadHash)
    {
        var (accessKey, signingKey, scope) = SigningKeyFor(credential, amzDate);
        var names = signedHeaders.Split(';');
        if (!names.Contains("host"))
        {
            throw S3Exception.AuthorizationHeaderMalformed("The signed headers must include host.");
        }

        var headers = names.Select(name => KeyValuePair.Create(name, CanonicalHeaderValue(request.Headers[name])));
        var canonicalRequest = SigV4.CanonicalRequest(request.Method, SigV4.CanonicalPath(rawPath), canonicalQuery, headers, payloadHash);
        var expected = SigV4.Sign(signingKey, SigV4.StringToSign(SigV4.Algorithm, amzDate, scope, SigV4.Sha256Hex(canonicalRequest)));
        RequireSame(expected, signature);

        return new SigningContext(accessKey, signingKey, amzDate, scope, expected, payloadHash);
    }

    private void CheckSkew(DateTimeOffset signedAt)
    {
        if ((time.GetUtcNow() - signedAt).Duration() > options.Value.S3.MaxClockSkew)
        {
            throw new S3Exception(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.");
        }
    }

    private static string CanonicalQuery(string rawQuery, bool presigned) =>
        SigV4.CanonicalQuery(presigned
            ? string.Join('&', rawQuery.Split('&').Where(p => !p.StartsWith("X-Amz-Signature=", StringComparison.Ordinal)))
            : rawQuery);

    /// <summary>Values joined by commas, each trimmed, inner runs of spaces collapsed to one.</summary>
    private static string CanonicalHeaderValue(StringValues values) =>
        string.Join(',', values.Select(v => string.Join(' ', (v ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))));

    private static DateTimeOffset? ParseAmzDate(string text) =>
        DateTimeOffset.TryParseExact(text, AmzDateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed)
            ? parsed
            : null;

    private static DateTimeOffset? ParseHttpDate(string text, out string amzDate)
    {
        amzDate = string.Empty;
        if (!DateTimeOffset.TryParseExact(text, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            return null;
        }

        amzDate = parsed.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        return parsed;
    }
}
