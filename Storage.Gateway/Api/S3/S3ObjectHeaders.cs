using System.Globalization;
using Microsoft.Net.Http.Headers;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Integrity;

namespace Storage.Gateway.Api.S3;

/// <summary>The object headers S3 stores and returns, and its conditional-request rules.</summary>
public static class S3ObjectHeaders
{
    private const string MetaPrefix = "x-amz-meta-";

    /// <summary>S3's limit on user metadata (names and values together).</summary>
    private const int MaxUserMetadataBytes = 2048;

    /// <summary>The headers a (presigned) GET may override through query parameters, besides type and disposition.</summary>
    private static readonly (string Header, string Parameter)[] ResponseOverrides =
        [("Cache-Control", "response-cache-control"), ("Content-Language", "response-content-language"), ("Content-Encoding", "response-content-encoding"), ("Expires", "response-expires")];

    /// <summary>Content-Type, Content-Disposition and x-amz-meta-* of the request.</summary>
    public static ObjectAttributes AttributesFrom(HttpRequest request)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Headers)
        {
            if (name.StartsWith(MetaPrefix, StringComparison.OrdinalIgnoreCase))
            {
                metadata[name[MetaPrefix.Length..].ToLowerInvariant()] = value.ToString();
            }
        }

        if (metadata.Sum(m => m.Key.Length + m.Value.Length) > MaxUserMetadataBytes)
        {
            throw new S3Exception(400, "MetadataTooLarge", $"User metadata must not exceed {MaxUserMetadataBytes} bytes.");
        }

        return new ObjectAttributes(
            ContentType: request.ContentType,
            UserMetadata: metadata.Count > 0 ? metadata : null,
            ContentDisposition: request.Headers.ContentDisposition is { Count: > 0 } disposition ? disposition.ToString() : null);
    }

    /// <summary>
    /// Everything HEAD and GET return about an object, with the response-* overrides of a (presigned) GET. The
    /// stored checksum only when the whole object is sent: a client would check it against a range.
    /// </summary>
    public static void Write(S3Context context, ObjectRecord record, bool wholeObject)
    {
        var response = context.Response;
        var headers = response.Headers;
        var overridden = context.RawQuery.Length > 0;
        response.ContentType = (overridden ? context.Query("response-content-type") : null) ?? record.Attributes.ContentType ?? ObjectResponses.DefaultContentType;
        headers.ETag = $"\"{record.ETag}\"";
        headers.LastModified = record.LastModified.ToString("R", CultureInfo.InvariantCulture);
        headers.AcceptRanges = "bytes";
        if (((overridden ? context.Query("response-content-disposition") : null) ?? record.Attributes.ContentDisposition ?? FileNameDisposition(record.Attributes.FileName)) is { } disposition)
        {
            headers.ContentDisposition = disposition;
        }

        if (overridden)
        {
            foreach (var (header, parameter) in ResponseOverrides)
            {
                if (context.Query(parameter) is { } value)
                {
                    headers[header] = value;
                }
            }
        }

        if (record.Attributes.UserMetadata is { } userMetadata)
        {
            foreach (var (name, value) in userMetadata)
            {
                headers[MetaPrefix + name] = value;
            }
        }

        if (record.Segments.Count > 1)
        {
            headers["x-amz-mp-parts-count"] = record.Segments.Count.ToString(CultureInfo.InvariantCulture);
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
