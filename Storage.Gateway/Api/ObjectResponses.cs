using System.Globalization;
using Microsoft.Net.Http.Headers;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api;

/// <summary>Sends a stored object (or its headers) as an HTTP response, with single-range support.</summary>
public static class ObjectResponses
{
    public const string DefaultContentType = "application/octet-stream";

    public static async Task<IResult> SendAsync(HttpContext context, ObjectStore store, string bucket, string key, string notFoundDetail, CancellationToken cancellationToken)
    {
        var request = context.Request;
        if (HttpMethods.IsHead(request.Method))
        {
            var head = await store.HeadAsync(bucket, key, cancellationToken);
            if (head is null)
            {
                return Problems.NotFound(notFoundDetail);
            }

            WriteHeaders(context.Response, head);
            context.Response.ContentLength = head.Size;
            return TypedResults.Empty;
        }

        ByteRange? range = null;
        if (request.Headers.Range is { Count: > 0 } rangeHeader)
        {
            if (!ByteRange.TryParse(rangeHeader.ToString(), out var parsed))
            {
                return Problems.BadRequest($"Range '{rangeHeader}' is not a single byte range such as 'bytes=0-99'.");
            }

            range = parsed;
        }

        var result = await store.GetAsync(bucket, key, range, cancellationToken);
        if (result is null)
        {
            return Problems.NotFound(notFoundDetail);
        }

        await using (result)
        {
            var response = context.Response;
            WriteHeaders(response, result.Record);
            if (result.IsPartial || range is not null)
            {
                response.StatusCode = StatusCodes.Status206PartialContent;
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {result.Offset}-{result.Offset + result.Length - 1}/{result.Record.Size}");
            }

            response.ContentLength = result.Length;
            await result.Content.CopyToAsync(response.Body, 128 * 1024, cancellationToken);
        }

        return TypedResults.Empty;
    }

    private static void WriteHeaders(HttpResponse response, ObjectRecord record)
    {
        response.ContentType = HeaderValues.EncodeWords(record.Attributes.ContentType ?? DefaultContentType);
        response.Headers.ETag = $"\"{record.ETag}\"";
        response.Headers.LastModified = record.LastModified.ToString("R", CultureInfo.InvariantCulture);
        response.Headers.AcceptRanges = "bytes";
        if (record.Attributes.FileName is { } fileName)
        {
            var disposition = new ContentDispositionHeaderValue("attachment");
            disposition.SetHttpFileName(fileName);
            response.Headers.ContentDisposition = disposition.ToString();
        }
    }
}
