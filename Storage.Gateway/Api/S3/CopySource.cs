using System.Globalization;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api.S3;

/// <summary>The object an <c>x-amz-copy-source</c> header names, opened for streaming (CopyObject, UploadPartCopy).</summary>
public sealed class CopySource(ObjectRecord record, ObjectReadResult content) : IAsyncDisposable
{
    public ObjectRecord Record { get; } = record;

    public ObjectReadResult Content { get; } = content;

    public ValueTask DisposeAsync() => Content.DisposeAsync();

    /// <summary>Parses the header (<c>[/]bucket/key[?versionId=null]</c>, URL-encoded), checks the copy-source conditions and opens the bytes.</summary>
    public static async Task<CopySource> OpenAsync(S3Context context, ObjectStore store, ByteRange? range)
    {
        var header = context.Header("x-amz-copy-source") ?? throw S3Exception.InvalidArgument("x-amz-copy-source is required.");
        var question = header.IndexOf('?', StringComparison.Ordinal);
        if (question >= 0)
        {
            if (header[(question + 1)..] != "versionId=null")
            {
                throw S3Exception.NotImplemented("Copying a specific version");
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
        var record = await store.HeadAsync(bucket, key, context.Aborted)
            ?? throw await S3ObjectOperations.NotFoundAsync(store, bucket, key, context.Aborted);
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
            return new CopySource(record, await store.OpenAsync(record, range, context.Aborted));
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
