using System.Globalization;
using System.Xml.Linq;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api.S3;

/// <summary>PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects and CopyObject.</summary>
public sealed class S3ObjectOperations(ObjectStore store, S3BucketOperations buckets, S3LifecycleOperations lifecycle, S3Authorizer authorizer)
{
    private const int MaxDeleteKeys = 1000;
    private const int MaxDeleteDocumentBytes = 2 * 1024 * 1024;
    private const int MaxKeyBytes = 1024;

    public async Task PutObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        var attributes = S3ObjectHeaders.AttributesFrom(context.Request);
        var condition = await WriteConditionAsync(context, store, bucket, key);
        var encryption = S3Encryption.Requested(context);
        using var payload = S3Payload.Open(context);
        var written = await store.WriteAsync(bucket, key, payload.Stream, payload.Length, payload.ContentMd5, encryption, context.Aborted);
        var record = await store.CommitAsync(bucket, key, written, attributes, payload.VerifiedChecksum, condition, context.Aborted);
        context.Response.Headers.ETag = $"\"{record.ETag}\"";
        S3Encryption.WriteHeaders(context, record.Encryption);
        S3ObjectHeaders.WriteChecksum(context.Response, record.Checksum);
        await WriteVersionIdAsync(context, store, record);
    }

    public async Task GetObjectAsync(S3Context context, bool headOnly)
    {
        var (bucket, key) = Target(context);
        var record = await ReadVersionAsync(context, store, bucket, key);
        await WriteVersionIdAsync(context, store, record);
        var customerKey = S3Encryption.CustomerKey(context);
        store.CheckEncryptionKey(record.Encryption, customerKey);
        S3Encryption.WriteHeaders(context, record.Encryption);
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
            read = await store.OpenAsync(record, range, context.Aborted, customerKey);
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

    /// <summary>
    /// Without a version id: removes the object, or in a versioned bucket writes a delete marker. With one: removes that
    /// version for good (deleting a version that does not exist succeeds, as in S3).
    /// </summary>
    public async Task DeleteObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        await buckets.RequireAsync(context);
        var outcome = await DeleteAsync(bucket, key, context.Query("versionId"), context.Aborted);
        if (outcome.VersionId is { } versionId)
        {
            context.Response.Headers["x-amz-version-id"] = versionId;
        }

        if (outcome.DeleteMarker)
        {
            context.Response.Headers["x-amz-delete-marker"] = "true";
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    /// <summary>What a delete did, as S3 reports it: the version id it removed or wrote, and whether that is a delete marker.</summary>
    private sealed record DeleteOutcome(string? VersionId, bool DeleteMarker);

    private async Task<DeleteOutcome> DeleteAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        if (versionId is not null)
        {
            var removed = await store.DeleteVersionAsync(bucket, key, VersionIdFrom(versionId), cancellationToken);
            return new DeleteOutcome(versionId, removed?.IsDeleteMarker == true);
        }

        var deletion = await store.DeleteKeyAsync(bucket, key, WriteCondition.None, cancellationToken);
        return deletion.Marker is { } marker ? new DeleteOutcome(marker.VersionIdText, true) : new DeleteOutcome(null, false);
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

            if (version is not null && !ObjectStore.IsVersionId(version))
            {
                result.Add(S3Xml.Element("Error", S3Xml.Element("Key", key), S3Xml.Element("VersionId", version), S3Xml.Element("Code", "InvalidArgument"), S3Xml.Element("Message", "Invalid version id specified.")));
                continue;
            }

            if (S3Authorizer.Denies(context, version is null ? S3Actions.DeleteObject : S3Actions.DeleteObjectVersion, key!))
            {
                result.Add(S3Xml.Element("Error", S3Xml.Element("Key", key), version is null ? null : S3Xml.Element("VersionId", version), S3Xml.Element("Code", "AccessDenied"), S3Xml.Element("Message", "Access Denied: the bucket policy denies deleting this key.")));
                continue;
            }

            var outcome = await DeleteAsync(bucket, key!, version, context.Aborted);
            if (!quiet)
            {
                result.Add(S3Xml.Element("Deleted",
                    S3Xml.Element("Key", key),
                    version is null ? null : S3Xml.Element("VersionId", version),
                    outcome.DeleteMarker ? S3Xml.Element("DeleteMarker", "true") : null,
                    outcome.DeleteMarker && outcome.VersionId is { } markerId ? S3Xml.Element("DeleteMarkerVersionId", markerId) : null));
            }
        }

        await S3Xml.WriteAsync(context.Response, result, context.Aborted);
    }

    public async Task CopyObjectAsync(S3Context context)
    {
        var (bucket, key) = Target(context);
        var condition = await WriteConditionAsync(context, store, bucket, key);
        var source = await CopySource.OpenAsync(context, store, authorizer, range: null);
        await using (source)
        {
            var directive = context.Header("x-amz-metadata-directive")?.ToUpperInvariant() ?? "COPY";
            if (directive is not ("COPY" or "REPLACE"))
            {
                throw S3Exception.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE.");
            }

            // Copying onto itself changes nothing unless it changes the metadata or the encryption, as in S3.
            var encryption = S3Encryption.Requested(context);
            if (directive == "COPY" && source.Record.Bucket == bucket && source.Record.Key == key && !source.VersionNamed && encryption is null)
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
            var written = await store.WriteAsync(bucket, key, source.Content.Content, source.Record.Size, expectedMd5: null, encryption, context.Aborted);

            // The bytes are identical, so a whole-object checksum still holds; a composite one described the parts.
            var checksum = source.Record.Checksum is { Type: ObjectChecksum.FullObject } full ? full : null;
            var record = await store.CommitAsync(bucket, key, written, attributes, checksum, condition, context.Aborted);
            await WriteVersionIdAsync(context, store, record);
            source.WriteVersionId(context.Response);
            S3Encryption.WriteHeaders(context, record.Encryption);
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

        // XML cannot carry it in a listing, and the version index uses it as the end of a key.
        if (key.Contains('\0', StringComparison.Ordinal))
        {
            throw S3Exception.InvalidArgument("Object keys cannot contain the character U+0000.");
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

    /// <summary>
    /// The version a request names (<c>versionId</c>; without one, the current version). A missing one is NoSuchVersion or
    /// NoSuchKey; a delete marker answers 405 when named and 404 when it is the latest, with <c>x-amz-delete-marker</c>.
    /// </summary>
    public static async Task<ObjectRecord> ReadVersionAsync(S3Context context, ObjectStore store, string bucket, string key)
    {
        if (context.Query("versionId") is not { } versionId)
        {
            return await store.HeadAsync(bucket, key, context.Aborted) ?? throw await NotFoundAsync(store, bucket, key, context.Aborted) switch
            {
                { Code: "NoSuchKey" } missing when await store.VersioningAsync(bucket, context.Aborted) != BucketVersioning.Unversioned
                    && await store.LatestDeleteMarkerAsync(bucket, key, context.Aborted) is { } marker => new S3Exception(missing.Status, missing.Code, missing.Message) { Headers = MarkerHeaders(marker) },
                var missing => missing,
            };
        }

        var record = await store.HeadVersionAsync(bucket, key, VersionIdFrom(versionId), context.Aborted)
            ?? throw await VersionNotFoundAsync(store, bucket, context.Aborted);
        return record.IsDeleteMarker
            ? throw new S3Exception(405, "MethodNotAllowed", "The specified method is not allowed against this resource: the version is a delete marker.") { Headers = MarkerHeaders(record) }
            : record;
    }

    /// <summary>The error for a version that is not there: NoSuchVersion, or NoSuchBucket when its bucket is missing.</summary>
    public static async Task<S3Exception> VersionNotFoundAsync(ObjectStore store, string bucket, CancellationToken cancellationToken) =>
        await store.BucketExistsAsync(bucket, cancellationToken) ? new S3Exception(404, "NoSuchVersion", "The specified version does not exist.") : S3Exception.NoSuchBucket(bucket);

    /// <summary>The record's version id for a version id as S3 sends it ("null": the null version).</summary>
    public static string? VersionIdFrom(string versionId) => versionId == ObjectRecord.NullVersionId ? null : versionId;

    /// <summary>x-amz-version-id, which S3 sends for every version of a bucket that is (or was) versioned, and for any version asked for by id.</summary>
    public static async Task WriteVersionIdAsync(S3Context context, ObjectStore store, ObjectRecord record)
    {
        if (record.VersionId is not null || context.Query("versionId") is not null || await store.VersioningAsync(record.Bucket, context.Aborted) != BucketVersioning.Unversioned)
        {
            context.Response.Headers["x-amz-version-id"] = record.VersionIdText;
        }
    }

    private static Dictionary<string, string> MarkerHeaders(ObjectRecord marker) => new()
    {
        ["x-amz-delete-marker"] = "true",
        ["x-amz-version-id"] = marker.VersionIdText,
        ["Last-Modified"] = marker.LastModified.ToString("R", CultureInfo.InvariantCulture),
    };

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
