using System.Globalization;
using System.Xml.Linq;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api.S3;

/// <summary>PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects and CopyObject.</summary>
public sealed class S3ObjectOperations(ObjectStore store, S3BucketOperations buckets, S3LifecycleOperations lifecycle)
{
    private const int MaxDeleteKeys = 1000;
    private const int MaxDeleteDocumentBytes = 2 * 1024 * 1024;
    private const int MaxKeyBytes = 1024;

    public async Task PutObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        var attributes = S3ObjectHeaders.AttributesFrom(context.Request);
        var condition = await WriteConditionAsync(context, store, bucket, key);
        using var payload = S3Payload.Open(context);
        var written = await store.WriteAsync(bucket, key, payload.Stream, payload.Length, payload.ContentMd5, context.Aborted);
        var record = await store.CommitAsync(bucket, key, written, attributes, payload.VerifiedChecksum, condition, context.Aborted);
        context.Response.Headers.ETag = $"\"{record.ETag}\"";
        S3ObjectHeaders.WriteChecksum(context.Response, record.Checksum);
    }

    public async Task GetObjectAsync(S3Context context, bool headOnly)
    {
        var (bucket, key) = Target(context);
        var record = await store.HeadAsync(bucket, key, context.Aborted) ?? throw await NotFoundAsync(store, bucket, key, context.Aborted);
        if (S3ObjectHeaders.FailedPrecondition(context.Request, record) is { } status)
        {
            if (status == StatusCodes.Status412PreconditionFailed)
            {
                throw S3Exception.PreconditionFailed();
            }

            context.Response.StatusCode = status;
            context.Response.Headers.ETag = $"\"{record.ETag}\"";
            return;
        }

        var range = RequestedRange(context, record);
        S3ObjectHeaders.Write(context, record, wholeObject: range is null);
        await lifecycle.WriteExpirationAsync(context, record);
        if (headOnly)
        {
            // A HEAD describes what the same GET would send: a part or range answers 206 with its length, or 416.
            if (range is { } requested)
            {
                if (requested.Resolve(record.Size) is not var (offset, length))
                {
                    context.Response.Headers.ContentRange = $"bytes */{record.Size}";
                    throw new S3Exception(416, "InvalidRange", "The requested range is not satisfiable.");
                }

                context.Response.StatusCode = StatusCodes.Status206PartialContent;
                context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {offset}-{offset + length - 1}/{record.Size}");
                context.Response.ContentLength = length;
                return;
            }

            context.Response.ContentLength = record.Size;
            return;
        }

        ObjectReadResult read;
        try
        {
            read = await store.OpenAsync(record, range, context.Aborted);
        }
        catch (RangeNotSatisfiableException)
        {
            context.Response.Headers.ContentRange = $"bytes */{record.Size}";
            throw new S3Exception(416, "InvalidRange", "The requested range is not satisfiable.");
        }

        await using var _ = read;
        if (range is not null)
        {
            context.Response.StatusCode = StatusCodes.Status206PartialContent;
            context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {read.Offset}-{read.Offset + read.Length - 1}/{read.Record.Size}");
        }

        context.Response.ContentLength = read.Length;
        await read.Content.CopyToAsync(context.Response.Body, 128 * 1024, context.Aborted);
    }

    public async Task DeleteObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        await buckets.RequireAsync(context);
        await store.DeleteAsync(bucket, key, context.Aborted);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public async Task DeleteObjectsAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        await buckets.RequireAsync(context);
        XElement document;
        using (var payload = S3Payload.Open(context))
        {
            document = await S3Xml.ReadAsync(payload.Stream, MaxDeleteDocumentBytes, context.Aborted);
        }

        var objects = document.Children("Object").Select(o => (Key: o.ChildValue("Key"), Version: o.ChildValue("VersionId"))).ToList();
        var keys = objects.Select(o => o.Key).ToList();
        if (document.Name.LocalName != "Delete" || keys.Count is 0 or > MaxDeleteKeys || keys.Any(k => string.IsNullOrEmpty(k)))
        {
            throw S3Exception.MalformedXml($"a Delete document lists 1 to {MaxDeleteKeys} Object elements, each with a Key.");
        }

        var quiet = string.Equals(document.ChildValue("Quiet"), "true", StringComparison.OrdinalIgnoreCase);
        var result = S3Xml.Element("DeleteResult");
        foreach (var (key, version) in objects)
        {
            if (System.Text.Encoding.UTF8.GetByteCount(key!) > MaxKeyBytes)
            {
                result.Add(S3Xml.Element("Error", S3Xml.Element("Key", key), S3Xml.Element("Code", "KeyTooLongError"), S3Xml.Element("Message", "Your key is too long.")));
                continue;
            }

            if (version is not (null or "null"))
            {
                result.Add(S3Xml.Element("Error", S3Xml.Element("Key", key), S3Xml.Element("VersionId", version), S3Xml.Element("Code", "NoSuchVersion"), S3Xml.Element("Message", "Objects here have only the version 'null'.")));
                continue;
            }

            await store.DeleteAsync(bucket, key!, context.Aborted);
            if (!quiet)
            {
                result.Add(S3Xml.Element("Deleted", S3Xml.Element("Key", key), version is null ? null : S3Xml.Element("VersionId", version)));
            }
        }

        await S3Xml.WriteAsync(context.Response, result, context.Aborted);
    }

    public async Task CopyObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        var condition = await WriteConditionAsync(context, store, bucket, key);
        var source = await CopySource.OpenAsync(context, store, range: null);
        await using (source)
        {
            var directive = context.Header("x-amz-metadata-directive")?.ToUpperInvariant() ?? "COPY";
            if (directive is not ("COPY" or "REPLACE"))
            {
                throw S3Exception.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE.");
            }

            if (directive == "COPY" && source.Record.Bucket == bucket && source.Record.Key == key)
            {
                throw S3Exception.InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.");
            }

            var tagging = context.Header("x-amz-tagging-directive")?.ToUpperInvariant() ?? "COPY";
            if (tagging is not ("COPY" or "REPLACE"))
            {
                throw S3Exception.InvalidArgument("x-amz-tagging-directive must be COPY or REPLACE.");
            }

            // The two directives are independent: metadata from one place, tags from the same or the other.
            var attributes = (directive == "REPLACE" ? S3ObjectHeaders.AttributesFrom(context.Request) : source.Record.Attributes) with
            {
                Tags = tagging == "REPLACE" ? S3TaggingOperations.FromHeader(context.Request) : source.Record.Attributes.Tags,
            };
            var written = await store.WriteAsync(bucket, key, source.Content.Content, source.Record.Size, expectedMd5: null, context.Aborted);

            // The bytes are identical, so a whole-object checksum still holds; a composite one described the parts.
            var checksum = source.Record.Checksum is { Type: ObjectChecksum.FullObject } full ? full : null;
            var record = await store.CommitAsync(bucket, key, written, attributes, checksum, condition, context.Aborted);
            await S3Xml.WriteAsync(context.Response, S3Xml.Element("CopyObjectResult", S3Xml.Element("ETag", $"\"{record.ETag}\""), S3Xml.Element("LastModified", S3Xml.Timestamp(record.LastModified))), context.Aborted);
        }
    }

    /// <summary>The bucket and key of an object request, the key checked against S3's length limit.</summary>
    public static (string Bucket, string Key) Target(S3Context context)
    {
        var key = context.Key!;
        if (System.Text.Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
        {
            throw new S3Exception(400, "KeyTooLongError", $"Object keys are at most {MaxKeyBytes} bytes of UTF-8.");
        }

        return (context.Bucket!, key);
    }

    /// <summary>
    /// The write condition of a PutObject or CompleteMultipartUpload, checked once before any byte is read (so a
    /// refused write costs nothing) and again, atomically, by the commit. A condition that fails at the commit means
    /// another write won meanwhile: 412, or 409 ConditionalRequestConflict when the object was deleted under an If-Match.
    /// </summary>
    public static async Task<WriteCondition> WriteConditionAsync(S3Context context, ObjectStore store, string bucket, string key)
    {
        if (S3ObjectHeaders.WriteConditionFrom(context.Request) is not { } condition)
        {
            return WriteCondition.None;
        }

        var current = await store.HeadAsync(bucket, key, context.Aborted);
        return condition.Allows(current) ? condition
            : current is null ? throw await NotFoundAsync(store, bucket, key, context.Aborted)
            : throw S3Exception.PreconditionFailed();
    }

    /// <summary>The error for an object that is not there: NoSuchKey, or NoSuchBucket when its bucket is missing too.</summary>
    public static async Task<S3Exception> NotFoundAsync(ObjectStore store, string bucket, string key, CancellationToken cancellationToken) =>
        await store.BucketExistsAsync(bucket, cancellationToken) ? S3Exception.NoSuchKey(key) : S3Exception.NoSuchBucket(bucket);

    /// <summary>The Range header (S3 ignores one it cannot parse) or partNumber (a part of a multipart object).</summary>
    private static ByteRange? RequestedRange(S3Context context, ObjectRecord record)
    {
        if (context.Query("partNumber") is { } partText)
        {
            // An object written in one piece is its only part, answered as a part too (206), as S3 does.
            var parts = record.Parts() ?? [record.Size];
            if (!int.TryParse(partText, NumberStyles.None, CultureInfo.InvariantCulture, out var part) || part < 1 || part > parts.Count)
            {
                throw new S3Exception(416, "InvalidPartNumber", "The requested partnumber is not satisfiable.");
            }

            if (record.Size == 0)
            {
                return null;
            }

            var offset = parts.Take(part - 1).Sum();
            return new ByteRange(offset, offset + parts[part - 1] - 1, null);
        }

        return ByteRange.TryParse(context.Request.Headers.Range.ToString(), out var range) ? range : null;
    }
}
