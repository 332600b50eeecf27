using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api;

/// <summary>
/// The original object API: <c>PUT/GET/HEAD/DELETE /object/{id}</c> with ids of 1–32 letters or digits. Objects
/// live in an ordinary bucket (<c>Storage:RestApi:ObjectsBucket</c>), so S3 clients see them too.
/// </summary>
public static partial class ObjectApi
{
    public sealed record PutObjectResponse(string Id, long Size, string ETag);

    public static IEndpointRouteBuilder MapObjectApi(this IEndpointRouteBuilder routes)
    {
        // A catch-all, so that malformed ids (empty, containing '/') get a 400 that says why instead of a 404.
        var group = routes.MapGroup("/object").WithTags("Objects");
        group.MapPut("/{**id}", PutAsync);
        group.MapMethods("/{**id}", [HttpMethods.Get, HttpMethods.Head], GetAsync);
        group.MapDelete("/{**id}", DeleteAsync);
        return routes;
    }

    [GeneratedRegex("^[A-Za-z0-9]{1,32}$")]
    private static partial Regex ValidId();

    private static async Task<IResult> PutAsync(string? id, HttpContext context, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken)
    {
        if (Validate(id) is { } invalid)
        {
            return invalid;
        }

        var request = context.Request;
        if (request.ContentType is { } contentType && !HeaderValues.IsPlainAscii(contentType))
        {
            return Problems.BadRequest("Content-Type must be printable ASCII; nothing was stored.");
        }

        var record = await store.PutAsync(
            options.Value.RestApi.ObjectsBucket,
            id!,
            new ClientBodyStream(request.Body),
            request.ContentLength,
            new ObjectAttributes(ContentType: request.ContentType),
            cancellationToken);
        context.Response.Headers.ETag = $"\"{record.ETag}\"";
        return TypedResults.Ok(new PutObjectResponse(record.Key, record.Size, record.ETag));
    }

    private static async Task<IResult> GetAsync(string? id, HttpContext context, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken) =>
        Validate(id) ?? await ObjectResponses.SendAsync(context, store, options.Value.RestApi.ObjectsBucket, id!, $"Object '{id}' does not exist.", cancellationToken);

    private static async Task<IResult> DeleteAsync(string? id, ObjectStore store, IOptions<StorageOptions> options, CancellationToken cancellationToken)
    {
        if (Validate(id) is { } invalid)
        {
            return invalid;
        }

        return await store.DeleteAsync(options.Value.RestApi.ObjectsBucket, id!, cancellationToken)
            ? TypedResults.NoContent()
            : Problems.NotFound($"Object '{id}' does not exist.");
    }

    private static IResult? Validate(string? id) =>
        id is not null && ValidId().IsMatch(id)
            ? null
            : Problems.BadRequest($"'{id}' is not a valid object id: ids are 1 to 32 letters (A-Z, a-z) or digits.");
}
