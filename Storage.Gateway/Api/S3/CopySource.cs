using System.Globalization;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api.S3;

/// <summary>The object an <c>x-amz-copy-source</c> header names, opened for streaming (CopyObject, UploadPartCopy).</summary>
public sealed class CopySource(ObjectRecord record, ObjectReadResult content, bool versionNamed) : IAsyncDisposable
{
    public ObjectRecord Record { get; } = record;

    public ObjectReadResult Content { get; } = content;

    /// <summary>Whether the header named the version (copying an older version onto its own key restores it).</summary>
    public bool VersionNamed { get; } = versionNamed;

    public ValueTask DisposeAsync() => Content.DisposeAsync();

    /// <summary>x-amz-copy-source-version-id: the version copied, when the source was named by version or its bucket is versioned.</summary>
    public void WriteVersionId(HttpResponse response)
    {
        if (VersionNamed || Record.VersionId is not null)
        {
            response.Headers["x-amz-copy-source-version-id"] = Record.VersionIdText;
        }
    }

    /// <summary>
    /// Parses the header (<c>[/]bucket/key[?versionId=…]</c>, URL-encoded), checks the copy-source conditions and opens the
    /// bytes: of the named version, or of the current one, once the source is authorized for reading. A delete marker cannot be copied (400, as in S3).
    /// </summary>
    public static async Task<CopySource> OpenAsync(S3Context context, ObjectStore store, S3Authorizer authorizer, ByteRange? range)
    {
        var header = context.Header("x-amz-copy-source") ?? throw S3Exception.InvalidArgument("x-amz-copy-source is required.");
        var question = header.IndexOf('?', StringComparison.Ordinal);
        string? versionId = null;
        if (question >= 0)
        {
            var query = header[(question + 1)..];
            if (!query.StartsWith("versionId=", StringComparison.Ordinal) || !ObjectStore.IsVersionId(versionId = query["versionId=".Length..]))
            {
                throw S3Exception.InvalidArgument("x-amz-copy-source may name a version as ?versionId=<id>, and nothing else.");
            }

            header = header[..question];
        }

        var path = Uri.UnescapeDataString(header).TrimStart('/');
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == path.Length - 1 || !BucketNames.IsValid(path[..slash]))
        {
            throw S3Exception.InvalidArgument("x-amz-copy-source must be bucket/key.");
        }

        var (bucket, key) = (path[..slash], path[(slash + 1)..]);

        // A key that may write here must not copy what it may not read.
        await authorizer.AuthorizeReadAsync(context, bucket, key, versionId is not null);
        var record = versionId is null
            ? await store.HeadAsync(bucket, key, context.Aborted) ?? throw await S3ObjectOperations.NotFoundAsync(store, bucket, key, context.Aborted)
            : await store.HeadVersionAsync(bucket, key, S3ObjectOperations.VersionIdFrom(versionId), context.Aborted) switch
            {
                null => throw await S3ObjectOperations.VersionNotFoundAsync(store, bucket, context.Aborted),
                { IsDeleteMarker: true } => throw S3Exception.InvalidRequest("The source of a copy request may not specifically refer to a delete marker by version id."),
                var version => version,
            };
        if (S3ObjectHeaders.FailedPrecondition(context.Request, record, "x-amz-copy-source-") is not null)
        {
            throw S3Exception.PreconditionFailed("At least one of the copy-source preconditions you specified did not hold.");
        }

        // Unlike a GET's Range, a copy range is not clipped to the object: bytes that are not there cannot be copied.
        if (range is { Last: { } last } && last >= record.Size)
        {
            throw OutsideSource(record);
        }

        try
        {
            return new CopySource(record, await store.OpenAsync(record, range, context.Aborted, S3Encryption.CustomerKey(context, copySource: true)), versionId is not null);
        }
        catch (RangeNotSatisfiableException)
        {
            throw OutsideSource(record);
        }
    }

    /// <summary>S3's answer to such a range (a 400, where a GET's unsatisfiable Range is a 416).</summary>
    private static S3Exception OutsideSource(ObjectRecord record) =>
        S3Exception.InvalidArgument(string.Create(CultureInfo.InvariantCulture, $"Range specified is not valid for source object of size: {record.Size}"));
}
