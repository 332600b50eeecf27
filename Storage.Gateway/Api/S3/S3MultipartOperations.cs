using System.Globalization;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Integrity;
using Storage.Gateway.Objects.Multipart;

namespace Storage.Gateway.Api.S3;

/// <summary>CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.</summary>
public sealed class S3MultipartOperations(MultipartUploads uploads, ObjectStore store, S3BucketOperations buckets, S3Authorizer authorizer)
{
    private const int MaxListed = 1000;
    private const int MaxCompleteDocumentBytes = 4 * 1024 * 1024;

    public async Task CreateAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        var algorithm = context.Header("x-amz-checksum-algorithm")?.ToUpperInvariant();
        if (algorithm is not null && !PayloadChecksum.Algorithms.Contains(algorithm))
        {
            throw S3Exception.InvalidArgument($"x-amz-checksum-algorithm must be one of {string.Join(", ", PayloadChecksum.Algorithms)}.");
        }

        var type = context.Header("x-amz-checksum-type")?.ToUpperInvariant();
        if (type is not (null or ObjectChecksum.Composite or ObjectChecksum.FullObject))
        {
            throw S3Exception.InvalidArgument("x-amz-checksum-type must be COMPOSITE or FULL_OBJECT.");
        }

        if (type is not null && algorithm is null)
        {
            throw S3Exception.InvalidRequest("x-amz-checksum-type needs x-amz-checksum-algorithm.");
        }

        if (type == ObjectChecksum.FullObject && algorithm is "SHA1" or "SHA256")
        {
            throw S3Exception.InvalidRequest($"The FULL_OBJECT checksum type is defined for the CRC algorithms only, not {algorithm}.");
        }

        if (type == ObjectChecksum.Composite && algorithm == "CRC64NVME")
        {
            throw S3Exception.InvalidRequest("CRC64NVME is a FULL_OBJECT checksum only.");
        }

        // S3's defaults: CRC-64/NVME is always a full-object checksum, the others composite.
        type ??= algorithm == "CRC64NVME" ? ObjectChecksum.FullObject : algorithm is null ? null : ObjectChecksum.Composite;
        var upload = await uploads.CreateAsync(bucket, key, S3ObjectHeaders.AttributesFrom(context.Request), algorithm, type, S3Encryption.Requested(context), context.Aborted);
        S3Encryption.WriteHeaders(context, upload.EncryptionMode is { } mode ? new ObjectEncryption(mode, [], 0) : null);
        if (algorithm is not null)
        {
            context.Response.Headers["x-amz-checksum-algorithm"] = algorithm;
            context.Response.Headers["x-amz-checksum-type"] = type;
        }

        await S3Xml.WriteAsync(context.Response, S3Xml.Element("InitiateMultipartUploadResult",
            S3Xml.Element("Bucket", bucket), S3Xml.Element("Key", key), S3Xml.Element("UploadId", upload.UploadId)), context.Aborted);
    }

    public async Task UploadPartAsync(S3Context context)
    {
        var (upload, number) = await PartTargetAsync(context);

        // A part checksummed otherwise than its upload could not make the object's checksum, which would then be missing.
        if (upload.ChecksumAlgorithm is { } expected && S3Payload.AnnouncedChecksum(context) is { } sent && sent != expected)
        {
            throw S3Exception.InvalidRequest($"Checksum Type mismatch occurred, expected checksum Type: {expected.ToLowerInvariant()}, actual checksum Type: {sent.ToLowerInvariant()}");
        }

        using var payload = S3Payload.Open(context);
        var written = await uploads.WritePartAsync(upload, number, payload.Stream, payload.Length, payload.ContentMd5, S3Encryption.CustomerKey(context), context.Aborted);
        var part = await uploads.PutPartAsync(upload, number, written, payload.VerifiedChecksum, context.Aborted) ?? throw S3Exception.NoSuchUpload(upload.UploadId);
        S3Encryption.WriteHeaders(context, written.Encryption);
        context.Response.Headers.ETag = $"\"{part.ETag}\"";
        S3ObjectHeaders.WriteChecksum(context.Response, part.Checksum);
    }

    public async Task UploadPartCopyAsync(S3Context context)
    {
        var (upload, number) = await PartTargetAsync(context);
        ByteRange? range = null;
        if (context.Header("x-amz-copy-source-range") is { } rangeHeader)
        {
            if (!ByteRange.TryParse(rangeHeader, out var parsed) || parsed.First is null || parsed.Last is null)
            {
                throw S3Exception.InvalidArgument("x-amz-copy-source-range must be bytes=first-last.");
            }

            range = parsed;
        }

        await using var source = await CopySource.OpenAsync(context, store, authorizer, range);

        // An upload with a checksum algorithm needs every part's checksum, copied ones too: computed on the way.
        using var checksummed = upload.ChecksumAlgorithm is { } algorithm ? new ChecksummingStream(source.Content.Content, PayloadChecksum.Create(algorithm)!) : null;
        var written = await uploads.WritePartAsync(upload, number, checksummed ?? source.Content.Content, source.Content.Length, expectedMd5: null, S3Encryption.CustomerKey(context), context.Aborted);
        var part = await uploads.PutPartAsync(upload, number, written, checksummed?.Result, context.Aborted) ?? throw S3Exception.NoSuchUpload(upload.UploadId);
        S3Encryption.WriteHeaders(context, written.Encryption);
        source.WriteVersionId(context.Response);
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("CopyPartResult",
            S3Xml.Element("ETag", $"\"{part.ETag}\""),
            S3Xml.Element("LastModified", S3Xml.Timestamp(part.LastModified)),
            part.Checksum is { } sum ? S3Xml.Element("Checksum" + sum.Algorithm, sum.Value) : null), context.Aborted);
    }

    public async Task CompleteAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        var uploadId = context.Query("uploadId") ?? string.Empty;
        var upload = await uploads.GetAsync(bucket, key, uploadId, context.Aborted);
        var document = await ReadDocumentAsync(context);
        if (document.Name.LocalName != "CompleteMultipartUpload")
        {
            throw S3Exception.MalformedXml("the root element must be CompleteMultipartUpload.");
        }

        var requested = new List<CompletedPart>();
        foreach (var part in document.Children("Part"))
        {
            if (!int.TryParse(part.ChildValue("PartNumber"), NumberStyles.None, CultureInfo.InvariantCulture, out var number) || part.ChildValue("ETag") is not { } etag)
            {
                throw S3Exception.MalformedXml("every Part needs a PartNumber and an ETag.");
            }

            var checksum = upload?.ChecksumAlgorithm is { } algorithm ? part.ChildValue("Checksum" + algorithm) : null;
            requested.Add(new CompletedPart(number, etag, checksum));
        }

        // A Complete repeated after its reply was lost gets the same answer (the upload itself is gone by then).
        if (upload is null)
        {
            await WriteCompletedAsync(context, await uploads.CompletedAsync(bucket, key, uploadId, requested, context.Aborted) ?? throw S3Exception.NoSuchUpload(uploadId));
            return;
        }

        var condition = await S3ObjectOperations.WriteConditionAsync(context, store, bucket, key);
        ObjectRecord completed;
        try
        {
            completed = await uploads.CompleteAsync(upload, requested, ExpectedChecksum(context, upload), condition, S3Encryption.CustomerKey(context), context.Aborted) ?? throw S3Exception.NoSuchUpload(upload.UploadId);
        }
        catch (MultipartCompletionException ex)
        {
            throw ex.Problem switch
            {
                CompletionProblem.NoParts => S3Exception.MalformedXml(ex.Message),
                CompletionProblem.EntityTooSmall => new S3Exception(400, "EntityTooSmall", ex.Message),
                CompletionProblem.InvalidPartOrder => new S3Exception(400, "InvalidPartOrder", ex.Message),
                CompletionProblem.BadDigest => new S3Exception(400, "BadDigest", ex.Message),
                CompletionProblem.ChecksumUnavailable => S3Exception.InvalidRequest(ex.Message),
                _ => new S3Exception(400, "InvalidPart", ex.Message),
            };
        }

        await WriteCompletedAsync(context, completed);
    }

    private async Task WriteCompletedAsync(S3Context context, ObjectRecord completed)
    {
        await S3ObjectOperations.WriteVersionIdAsync(context, store, completed);
        S3Encryption.WriteHeaders(context, completed.Encryption);
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("CompleteMultipartUploadResult",
            S3Xml.Element("Location", $"{context.Request.Scheme}://{context.Request.Host}/{completed.Bucket}/{Uri.EscapeDataString(completed.Key)}"),
            S3Xml.Element("Bucket", completed.Bucket),
            S3Xml.Element("Key", completed.Key),
            S3Xml.Element("ETag", $"\"{completed.ETag}\""),
            completed.Checksum is { } sum ? S3Xml.Element("Checksum" + sum.Algorithm, sum.Value) : null,
            completed.Checksum is { } type ? S3Xml.Element("ChecksumType", type.Type) : null), context.Aborted);
    }

    public async Task AbortAsync(S3Context context)
    {
        var upload = await UploadAsync(context);
        if (!await uploads.AbortAsync(upload, context.Aborted))
        {
            throw S3Exception.NoSuchUpload(upload.UploadId);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public async Task ListPartsAsync(S3Context context)
    {
        var upload = await UploadAsync(context);
        var marker = Number(context, "part-number-marker", 0, int.MaxValue, 0);
        var maxParts = Number(context, "max-parts", 0, int.MaxValue, MaxListed);
        var parts = await uploads.ListPartsAsync(upload, marker, Math.Clamp(maxParts, 1, MaxListed) + 1, context.Aborted);
        var shown = parts.Take(Math.Min(maxParts, MaxListed)).ToList();
        var truncated = parts.Count > shown.Count;
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("ListPartsResult",
            S3Xml.Element("Bucket", upload.Bucket),
            S3Xml.Element("Key", upload.Key),
            S3Xml.Element("UploadId", upload.UploadId),
            S3Xml.Owner(S3BucketOperations.Owner),
            S3Xml.Element("Initiator", S3Xml.Element("ID", S3BucketOperations.Owner), S3Xml.Element("DisplayName", S3BucketOperations.Owner)),
            S3Xml.Element("StorageClass", "STANDARD"),
            S3Xml.Element("PartNumberMarker", marker),
            S3Xml.Element("NextPartNumberMarker", shown.Count > 0 ? shown[^1].Number : marker),
            S3Xml.Element("MaxParts", maxParts),
            S3Xml.Element("IsTruncated", truncated ? "true" : "false"),
            upload.ChecksumAlgorithm is { } algorithm ? S3Xml.Element("ChecksumAlgorithm", algorithm) : null,
            shown.Select(p => S3Xml.Element("Part",
                S3Xml.Element("PartNumber", p.Number),
                S3Xml.Element("LastModified", S3Xml.Timestamp(p.LastModified)),
                S3Xml.Element("ETag", $"\"{p.ETag}\""),
                S3Xml.Element("Size", p.Size),
                p.Checksum is { } checksum ? S3Xml.Element("Checksum" + checksum.Algorithm, checksum.Value) : null))), context.Aborted);
    }

    public async Task ListUploadsAsync(S3Context context)
    {
        await buckets.RequireAsync(context);
        var maxUploads = Number(context, "max-uploads", 0, int.MaxValue, MaxListed);
        var (keyMarker, uploadIdMarker) = (context.Query("key-marker"), context.Query("upload-id-marker"));
        var prefix = context.Query("prefix") ?? string.Empty;
        var found = await uploads.ListUploadsAsync(context.Bucket!, prefix, keyMarker, uploadIdMarker, Math.Clamp(maxUploads, 1, MaxListed) + 1, context.Aborted);
        var shown = found.Take(Math.Min(maxUploads, MaxListed)).ToList();
        var truncated = found.Count > shown.Count;
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("ListMultipartUploadsResult",
            S3Xml.Element("Bucket", context.Bucket),
            S3Xml.Element("KeyMarker", keyMarker ?? string.Empty),
            S3Xml.Element("UploadIdMarker", uploadIdMarker ?? string.Empty),
            S3Xml.Element("NextKeyMarker", truncated ? shown[^1].Key : string.Empty),
            S3Xml.Element("NextUploadIdMarker", truncated ? shown[^1].UploadId : string.Empty),
            S3Xml.Element("Prefix", prefix),
            S3Xml.Element("MaxUploads", maxUploads),
            S3Xml.Element("IsTruncated", truncated ? "true" : "false"),
            shown.Select(u => S3Xml.Element("Upload",
                S3Xml.Element("Key", u.Key),
                S3Xml.Element("UploadId", u.UploadId),
                S3Xml.Element("Initiator", S3Xml.Element("ID", S3BucketOperations.Owner), S3Xml.Element("DisplayName", S3BucketOperations.Owner)),
                S3Xml.Owner(S3BucketOperations.Owner),
                S3Xml.Element("StorageClass", "STANDARD"),
                S3Xml.Element("Initiated", S3Xml.Timestamp(u.Initiated)),
                u.ChecksumAlgorithm is { } algorithm ? S3Xml.Element("ChecksumAlgorithm", algorithm) : null))), context.Aborted);
    }

    private async Task<(MultipartUpload Upload, int Number)> PartTargetAsync(S3Context context)
    {
        var number = Number(context, "partNumber", 1, MultipartUploads.MaxParts, null);
        return (await UploadAsync(context), number);
    }

    private async Task<MultipartUpload> UploadAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        var uploadId = context.Query("uploadId") ?? string.Empty;
        return await uploads.GetAsync(bucket, key, uploadId, context.Aborted) ?? throw S3Exception.NoSuchUpload(uploadId);
    }

    /// <summary>
    /// The whole object's checksum a Complete carries in <c>x-amz-checksum-*</c> (it describes the object, not the
    /// request's XML). Its type is the upload's, fixed when it was created; a different <c>x-amz-checksum-type</c> is refused.
    /// </summary>
    private static ObjectChecksum? ExpectedChecksum(S3Context context, MultipartUpload upload)
    {
        var sent = PayloadChecksum.Algorithms.Where(a => context.Request.Headers.ContainsKey(PayloadChecksum.HeaderFor(a))).ToArray();
        if (sent.Length == 0)
        {
            return null;
        }

        if (sent.Length > 1)
        {
            throw S3Exception.InvalidRequest("Expecting a single x-amz-checksum- header; multiple checksum types are not allowed.");
        }

        if (upload.ChecksumAlgorithm != sent[0] || upload.ChecksumType is not { } type)
        {
            throw S3Exception.InvalidRequest($"The upload was created with {(upload.ChecksumAlgorithm is { } algorithm ? $"the {algorithm} checksum algorithm" : "no checksum algorithm")}; a {sent[0]} checksum of the object cannot be verified.");
        }

        if (context.Header("x-amz-checksum-type") is { } header && !header.Equals(type, StringComparison.OrdinalIgnoreCase))
        {
            throw S3Exception.InvalidRequest($"The upload's checksum type is {type}, fixed when it was created.");
        }

        return new ObjectChecksum(sent[0], context.Header(PayloadChecksum.HeaderFor(sent[0]))!.Trim(), type);
    }

    private static async Task<System.Xml.Linq.XElement> ReadDocumentAsync(S3Context context)
    {
        using var payload = S3Payload.Open(context, checksumsDescribeBody: false);
        return await S3Xml.ReadAsync(payload.Stream, MaxCompleteDocumentBytes, context.Aborted);
    }

    private static int Number(S3Context context, string name, int min, int max, int? fallback)
    {
        var text = context.Query(name);
        if (text is null && fallback is { } value)
        {
            return value;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number
            : throw S3Exception.InvalidArgument($"{name} must be a whole number from {min} to {max}.");
    }
}
