using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api;

/// <summary>
/// The original file API: <c>PUT /api/file</c> takes multipart/form-data with a <c>file</c> field and answers
/// <c>{"id":"&lt;uuid&gt;"}</c>; <c>GET /api/file/{id}</c> returns the exact bytes with the original file name and
/// content type; <c>DELETE</c> removes it. The form is read as a stream: the file goes straight into the object
/// layer, never into memory or a temporary file.
/// </summary>
public static class FileApi
{
    public const string FileField = "file";

    public sealed record PutFileResponse(string Id);

    public static IEndpointRouteBuilder MapFileApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/file").WithTags("Files");
        group.MapPut("/", PutAsync);
        group.MapMethods("/{id}", [HttpMethods.Get, HttpMethods.Head], GetAsync);
        group.MapDelete("/{id}", DeleteAsync);
        return routes;
    }

    private static async Task<IResult> PutAsync(HttpContext context, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken)
    {
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.UnsupportedMediaType("Send the file as multipart/form-data with a field named 'file'.");
        }

        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrWhiteSpace(boundary) || boundary.Length > 70)
        {
            return Problems.BadRequest("The multipart/form-data content type has no valid boundary.");
        }

        // Both the request body and each section are wrapped: the multipart reader reports framing errors itself.
        var reader = new MultipartReader(boundary, new ClientBodyStream(context.Request.Body));
        while (await ReadSectionAsync(reader, cancellationToken) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                || !disposition.IsFileDisposition()
                || !string.Equals(HeaderUtilities.RemoveQuotes(disposition.Name).Value, FileField, StringComparison.Ordinal))
            {
                continue;
            }

            if (section.ContentType is { } contentType && !HeaderValues.IsPlainAscii(contentType))
            {
                return Problems.BadRequest("The file's Content-Type must be printable ASCII; nothing was stored.");
            }

            var id = Guid.NewGuid().ToString("D");
            var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
            await store.PutAsync(
                options.Value.RestApi.FilesBucket,
                id,
                new ClientBodyStream(section.Body),
                null,
                new ObjectAttributes(ContentType: section.ContentType, FileName: string.IsNullOrEmpty(fileName) ? null : Path.GetFileName(fileName)),
                cancellationToken);
            return TypedResults.Ok(new PutFileResponse(id));
        }

        return Problems.BadRequest("The form has no file field named 'file'. Nothing was stored.");
    }

    private static async Task<MultipartSection?> ReadSectionAsync(MultipartReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadNextSectionAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            // The reader throws IOException itself when the body ends before the declared boundary appears (a body that
            // uses another boundary, or none); failures of the body stream arrive as InvalidRequestBodyException.
            throw new InvalidRequestBodyException($"The multipart body is malformed: {ex.Message} Nothing was stored.", ex);
        }
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken) =>
        Validate(id, out var key) ?? await ObjectResponses.SendAsync(context, store, options.Value.RestApi.FilesBucket, key, $"File '{id}' does not exist.", cancellationToken);

    private static async Task<IResult> DeleteAsync(string id, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken)
    {
        if (Validate(id, out var key) is { } invalid)
        {
            return invalid;
        }

        return await store.DeleteAsync(options.Value.RestApi.FilesBucket, key, cancellationToken)
            ? TypedResults.NoContent()
            : Problems.NotFound($"File '{id}' does not exist.");
    }

    /// <summary>File ids are UUIDs; the canonical lower-case form is the key.</summary>
    private static IResult? Validate(string id, out string key)
    {
        key = Guid.TryParse(id, out var guid) ? guid.ToString("D") : string.Empty;
        return key.Length > 0 ? null : Problems.BadRequest($"'{id}' is not a valid file id: ids are UUIDs such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301.");
    }
}
