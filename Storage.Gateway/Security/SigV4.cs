using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Storage.Gateway.Security;

/// <summary>
/// AWS Signature Version 4 for S3 requests: the signer nodes use and the pieces the S3 API's verifier shares. The canonical request keeps the path as S3 does:
/// each segment URI-encoded once, never normalised, so keys with <c>//</c>, <c>..</c> or <c>:</c> sign correctly.
/// </summary>
public static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public const string UnsignedPayload = "UNSIGNED-PAYLOAD";
    public const string Service = "s3";

    /// <summary>Unreserved characters and '/': a path made only of these is its own canonical form (the common case).</summary>
    private static readonly System.Buffers.SearchValues<char> PathAsIs =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/");

    /// <summary>Signs <paramref name="request"/> in place: adds x-amz-date, x-amz-content-sha256 and Authorization.</summary>
    public static void Sign(HttpRequestMessage request, string accessKey, string secretKey, string region, DateTimeOffset now, string payloadHash = UnsignedPayload)
    {
        var uri = request.RequestUri ?? throw new ArgumentException("The request has no URI.", nameof(request));
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        request.Headers.Remove("x-amz-date");
        request.Headers.Remove("x-amz-content-sha256");
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);

        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["host"] = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}",
            ["x-amz-content-sha256"] = payloadHash,
            ["x-amz-date"] = amzDate,
        };
        var signedHeaders = string.Join(';', headers.Keys);
        var canonicalRequest = CanonicalRequest(request.Method.Method, CanonicalPath(uri.AbsolutePath), CanonicalQuery(uri.Query), headers, payloadHash);
        var scope = Scope(date, region);
        var signature = Sign(SigningKey(secretKey, date, region), StringToSign(Algorithm, amzDate, scope, Sha256Hex(canonicalRequest)));
        request.Headers.TryAddWithoutValidation("Authorization", $"{Algorithm} Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
    }

    /// <summary>The canonical request; <paramref name="headers"/> are the signed headers by lower-case name, in order, values already trimmed.</summary>
    public static string CanonicalRequest(string method, string canonicalPath, string canonicalQuery, IEnumerable<KeyValuePair<string, string>> headers, string payloadHash)
    {
        var builder = new StringBuilder(256);
        builder.Append(method).Append('\n').Append(canonicalPath).Append('\n').Append(canonicalQuery).Append('\n');
        var names = new List<string>();
        foreach (var (name, value) in headers)
        {
            builder.Append(name).Append(':').Append(value).Append('\n');
            names.Add(name);
        }

        builder.Append('\n').AppendJoin(';', names).Append('\n').Append(payloadHash);
        return builder.ToString();
    }

    public static string Scope(string date, string region) => $"{date}/{region}/{Service}/aws4_request";

    /// <summary>The string to sign of any SigV4 step: a request (<see cref="Algorithm"/>) or a chunk or trailer of a streamed body.</summary>
    public static string StringToSign(string algorithm, string amzDate, string scope, string hashes) =>
        $"{algorithm}\n{amzDate}\n{scope}\n{hashes}";

    /// <summary>Hex HMAC-SHA256 of the string to sign.</summary>
    public static string Sign(byte[] signingKey, string stringToSign) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));

    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>HMAC chain date → region → service → "aws4_request".</summary>
    public static byte[] SigningKey(string secretKey, string date, string region)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(Service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>The path as sent (already percent-encoded by <see cref="Uri"/>), re-encoded segment by segment in SigV4's alphabet.</summary>
    public static string CanonicalPath(string escapedPath) =>
        escapedPath.AsSpan().ContainsAnyExcept(PathAsIs)
            ? string.Join('/', escapedPath.Split('/').Select(segment => Encode(Uri.UnescapeDataString(segment))))
            : escapedPath;

    /// <summary>Query parameters sorted by encoded name then value, each encoded in SigV4's alphabet.</summary>
    public static string CanonicalQuery(string query) =>
        string.Join('&', query.TrimStart('?')
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .Select(pair => (Name: Encode(Uri.UnescapeDataString(pair[0])), Value: Encode(Uri.UnescapeDataString(pair.Length > 1 ? pair[1] : string.Empty))))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Name}={p.Value}"));

    /// <summary>RFC 3986 encoding as SigV4 wants it: unreserved characters kept, every other UTF-8 byte as %XX (upper case).</summary>
    public static string Encode(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"%{b:X2}");
            }
        }

        return builder.ToString();
    }
}
