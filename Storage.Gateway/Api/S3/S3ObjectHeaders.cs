using System.Globalization;
using System.Text;
using Microsoft.Net.Http.Headers;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Integrity;

namespace Storage.Gateway.Api.S3;

/// <summary>The object headers S3 stores and returns, and its conditional-request rules.</summary>
public static class S3ObjectHeaders
{
    public const string MetaPrefix = "x-amz-meta-";

    /// <summary>S3's limit on user metadata (names and values together).</summary>
    private const int MaxUserMetadataBytes = 2048;

    /// <summary>
    /// What S3 stores of a request: Content-Type, Content-Disposition, Cache-Control, Content-Encoding (without the
    /// transfer framing <c>aws-chunked</c>), Content-Language, Expires, x-amz-meta-* and the tags of x-amz-tagging. User metadata may carry any
    /// text (RFC 2047 encoded words are decoded first, as S3 does); the other headers must be plain ASCII, since they are
    /// returned as they came. Anything that could not be returned is refused here rather than stored.
    /// </summary>
    public static ObjectAttributes AttributesFrom(HttpRequest request) => AttributesFrom(request.Headers);

    /// <summary>The same from headers that did not come as headers (a browser form's fields).</summary>
    public static ObjectAttributes AttributesFrom(IHeaderDictionary headers)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in headers)
        {
            if (name.StartsWith(MetaPrefix, StringComparison.OrdinalIgnoreCase))
            {
                var value = HeaderValues.DecodeWords(values.ToString());
                if (!HeaderValues.IsText(value))
                {
                    throw S3Exception.InvalidArgument($"The value of {name} contains control characters; nothing was stored.");
                }

                metadata[name[MetaPrefix.Length..].ToLowerInvariant()] = value;
            }
        }

        if (metadata.Sum(m => Encoding.UTF8.GetByteCount(m.Key) + Encoding.UTF8.GetByteCount(m.Value)) > MaxUserMetadataBytes)
        {
            throw new S3Exception(400, "MetadataTooLarge", $"User metadata must not exceed {MaxUserMetadataBytes} bytes.");
        }

        var encoding = Stored(headers, HeaderNames.ContentEncoding) is { } sent
            ? string.Join(", ", sent.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Where(e => !e.Equals("aws-chunked", StringComparison.OrdinalIgnoreCase)))
            : null;
        return new ObjectAttributes(
            ContentType: Stored(headers, HeaderNames.ContentType),
            UserMetadata: metadata.Count > 0 ? metadata : null,
            ContentDisposition: Stored(headers, HeaderNames.ContentDisposition),
            CacheControl: Stored(headers, HeaderNames.CacheControl),
            ContentEncoding: encoding is { Length: > 0 } ? encoding : null,
            ContentLanguage: Stored(headers, HeaderNames.ContentLanguage),
            Expires: Stored(headers, HeaderNames.Expires),
            Tags: S3TaggingOperations.FromHeader(headers));
    }

    /// <summary>
    /// Everything HEAD and GET return about an object, with the response-* overrides of a (presigned) GET. The
    /// stored checksum only when the whole object is sent: a client would check it against a range.
    /// </summary>
    public static void Write(S3Context context, ObjectRecord record, bool wholeObject)
    {
        var response = context.Response;
        var headers = response.Headers;
        response.ContentType = HeaderValues.EncodeWords(Override(context, "response-content-type") ?? record.Attributes.ContentType ?? ObjectResponses.DefaultContentType);
        headers.ETag = $"\"{record.ETag}\"";
        headers.LastModified = record.LastModified.ToString("R", CultureInfo.InvariantCulture);
        headers.AcceptRanges = "bytes";
        if ((Override(context, "response-content-disposition") ?? record.Attributes.ContentDisposition ?? FileNameDisposition(record.Attributes.FileName)) is { } disposition)
        {
            headers.ContentDisposition = HeaderValues.EncodeWords(disposition);
        }

        var attributes = record.Attributes;
        foreach (var (header, parameter, stored) in new[]
        {
            (HeaderNames.CacheControl, "response-cache-control", attributes.CacheControl),
            (HeaderNames.ContentLanguage, "response-content-language", attributes.ContentLanguage),
            (HeaderNames.ContentEncoding, "response-content-encoding", attributes.ContentEncoding),
            (HeaderNames.Expires, "response-expires", attributes.Expires),
        })
        {
            if ((Override(context, parameter) ?? stored) is { } value)
            {
                headers[header] = HeaderValues.EncodeWords(value);
            }
        }

        if (attributes.UserMetadata is { } userMetadata)
        {
            foreach (var (name, value) in userMetadata)
            {
                headers[MetaPrefix + name] = HeaderValues.EncodeWords(value);
            }
        }

        if (attributes.TagCount > 0)
        {
            headers["x-amz-tagging-count"] = attributes.TagCount.ToString(CultureInfo.InvariantCulture);
        }

        if (context.Query("partNumber") is not null && record.PartCount() is { } parts)
        {
            headers["x-amz-mp-parts-count"] = parts.ToString(CultureInfo.InvariantCulture);
        }

        if (wholeObject && record.Checksum is { } checksum && string.Equals(context.Header("x-amz-checksum-mode"), "ENABLED", StringComparison.OrdinalIgnoreCase))
        {
            headers[PayloadChecksum.HeaderFor(checksum.Algorithm)] = checksum.Value;
            headers["x-amz-checksum-type"] = checksum.Type;
        }
    }

    public static void WriteChecksum(HttpResponse response, ObjectChecksum? checksum)
    {
        if (checksum is not null)
        {
            response.Headers[PayloadChecksum.HeaderFor(checksum.Algorithm)] = checksum.Value;
        }
    }

    /// <summary>
    /// S3's conditional writes: <c>If-None-Match: *</c> (only if the key does not exist) and <c>If-Match: "etag"</c>
    /// (only if the current version has that ETag). Null when the request has neither.
    /// </summary>
    public static WriteCondition? WriteConditionFrom(HttpRequest request)
    {
        var noneMatch = request.Headers.IfNoneMatch.ToString().Trim();
        var match = request.Headers.IfMatch.ToString().Trim();
        if (noneMatch.Length == 0 && match.Length == 0)
        {
            return null;
        }

        if (noneMatch.Length > 0 && noneMatch != "*")
        {
            throw S3Exception.NotImplemented("If-None-Match with an ETag on a write (only '*' is defined for writes)");
        }

        if (match.Contains(',', StringComparison.Ordinal) || match == "*" || (match.Length > 0 && noneMatch.Length > 0))
        {
            throw S3Exception.NotImplemented("If-Match with several ETags or '*', or together with If-None-Match, on a write");
        }

        return new WriteCondition(noneMatch.Length > 0, match.Length > 0 ? match.Trim('"') : null);
    }

    /// <summary>
    /// RFC 7232 as S3 applies it: If-Match / If-Unmodified-Since fail with 412, If-None-Match / If-Modified-Since
    /// with 304 (for GET and HEAD). Null when the request may proceed.
    /// </summary>
    public static int? FailedPrecondition(HttpRequest request, ObjectRecord record, string prefix = "")
    {
        var headers = request.Headers;
        var ifMatch = headers[prefix + "If-Match"].ToString();
        var ifNoneMatch = headers[prefix + "If-None-Match"].ToString();
        if (ifMatch.Length > 0)
        {
            if (!ETagMatches(ifMatch, record.ETag))
            {
                return StatusCodes.Status412PreconditionFailed;
            }
        }
        else if (Date(headers[prefix + "If-Unmodified-Since"]) is { } unmodifiedSince && Seconds(record.LastModified) > unmodifiedSince)
        {
            return StatusCodes.Status412PreconditionFailed;
        }

        if (ifNoneMatch.Length > 0)
        {
            return ETagMatches(ifNoneMatch, record.ETag) ? (prefix.Length > 0 ? StatusCodes.Status412PreconditionFailed : StatusCodes.Status304NotModified) : null;
        }

        return Date(headers[prefix + "If-Modified-Since"]) is { } modifiedSince && Seconds(record.LastModified) <= modifiedSince
            ? (prefix.Length > 0 ? StatusCodes.Status412PreconditionFailed : StatusCodes.Status304NotModified)
            : null;
    }

    /// <summary>A response-* query parameter of a (presigned) GET, which must be text a header can carry.</summary>
    private static string? Override(S3Context context, string parameter) =>
        context.RawQuery.Length == 0 || context.Query(parameter) is not { } value ? null

        // Anyone could otherwise make a public object render as HTML on this origin; S3 refuses it alike.
        : context.Signing is null ? throw S3Exception.InvalidRequest("Request specific response headers cannot be used for anonymous GET requests.")
        : HeaderValues.IsText(value) ? value
        : throw S3Exception.InvalidArgument($"{parameter} contains control characters.");

    private static string? Stored(IHeaderDictionary headers, string header)
    {
        if (headers[header] is not { Count: > 0 } values)
        {
            return null;
        }

        var value = values.ToString();
        return HeaderValues.IsPlainAscii(value)
            ? value
            : throw S3Exception.InvalidArgument($"The {header} header must be printable ASCII (encode other text, e.g. RFC 5987 for file names); nothing was stored.");
    }

    private static bool ETagMatches(string header, string etag) =>
        header.Split(',', StringSplitOptions.TrimEntries).Any(candidate => candidate == "*" || candidate.Trim('"') == etag);

    private static DateTimeOffset? Date(Microsoft.Extensions.Primitives.StringValues value) =>
        DateTimeOffset.TryParse(value.ToString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) ? date : null;

    /// <summary>HTTP dates have whole seconds; compare at that precision.</summary>
    private static DateTimeOffset Seconds(DateTimeOffset value) => value.AddTicks(-(value.Ticks % TimeSpan.TicksPerSecond));

    private static string? FileNameDisposition(string? fileName)
    {
        if (fileName is null)
        {
            return null;
        }

        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName(fileName);
        return disposition.ToString();
    }
}
