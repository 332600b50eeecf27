using System.Net;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>The gateway driven by AWSSDK.S3 v4 at its defaults: signed aws-chunked uploads with trailing CRC32 checksums.</summary>
public sealed class S3SdkTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    private readonly AmazonS3Client _s3 = gateway.Client();

    [Fact]
    public async Task Buckets_are_created_listed_located_and_deleted_only_when_empty()
    {
        await _s3.PutBucketAsync("lifecycle");
        var names = (await _s3.ListBucketsAsync()).Buckets.Select(b => b.BucketName).ToList();
        Assert.Contains("lifecycle", names);
        Assert.Contains("objects", names);
        Assert.DoesNotContain(names, n => n.StartsWith('.'));
        Assert.Equal("BucketAlreadyOwnedByYou", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutBucketAsync("lifecycle"))).ErrorCode);
        Assert.Equal("InvalidBucketName", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutBucketAsync("Not_Valid"))).ErrorCode);
        Assert.Equal("InvalidBucketName", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutBucketAsync("admin"))).ErrorCode);

        var location = await _s3.GetBucketLocationAsync("lifecycle");
        Assert.Equal(HttpStatusCode.OK, location.HttpStatusCode);
        Assert.Equal(VersionStatus.Off, (await _s3.GetBucketVersioningAsync(new GetBucketVersioningRequest { BucketName = "lifecycle" })).VersioningConfig.Status);

        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "lifecycle", Key = "k", ContentBody = "x" });
        var notEmpty = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.DeleteBucketAsync("lifecycle"));
        Assert.Equal(("BucketNotEmpty", HttpStatusCode.Conflict), (notEmpty.ErrorCode, notEmpty.StatusCode));
        await _s3.DeleteObjectAsync("lifecycle", "k");
        await _s3.DeleteBucketAsync("lifecycle");
        Assert.Equal("NoSuchBucket", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "lifecycle" }))).ErrorCode);
    }

    [Fact]
    public async Task An_object_round_trips_with_its_headers_metadata_md5_etag_and_verified_checksum()
    {
        var data = TestData.Bytes(3_000_001, 7);
        var put = new PutObjectRequest
        {
            BucketName = "objects",
            Key = "sdk/round trip.bin",
            InputStream = new MemoryStream(data),
            ContentType = "application/x-test",
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
        };
        put.Headers.ContentDisposition = "attachment; filename=\"report.bin\"";
        put.Metadata.Add("owner", "ops team");
        var stored = await _s3.PutObjectAsync(put);
        Assert.Equal($"\"{Convert.ToHexStringLower(MD5.HashData(data))}\"", stored.ETag);
        Assert.NotNull(stored.ChecksumSHA256);

        using var get = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "sdk/round trip.bin", ChecksumMode = ChecksumMode.ENABLED });
        Assert.Equal("application/x-test", get.Headers.ContentType);
        Assert.Equal("attachment; filename=\"report.bin\"", get.Headers.ContentDisposition);
        Assert.Equal("ops team", get.Metadata["owner"]);
        Assert.Equal(stored.ChecksumSHA256, get.ChecksumSHA256);
        using var copy = new MemoryStream();
        await get.ResponseStream.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
    }

    [Fact]
    public async Task Ranges_and_conditional_requests_follow_http_rules()
    {
        var data = TestData.Bytes(500_000, 8);
        var etag = (await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "cond", InputStream = new MemoryStream(data) })).ETag;

        using (var range = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", ByteRange = new ByteRange(1000, 1999) }))
        {
            Assert.Equal(HttpStatusCode.PartialContent, range.HttpStatusCode);
            Assert.Equal(data[1000..2000], await ReadAllAsync(range.ResponseStream));
        }

        var outside = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", ByteRange = new ByteRange(600_000, 600_010) }));
        Assert.Equal(("InvalidRange", HttpStatusCode.RequestedRangeNotSatisfiable), (outside.ErrorCode, outside.StatusCode));

        var notModified = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", EtagToNotMatch = etag }));
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        var failed = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", EtagToMatch = "\"0123\"" }));
        Assert.Equal(HttpStatusCode.PreconditionFailed, failed.StatusCode);
        var since = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", ModifiedSinceDate = DateTime.UtcNow.AddMinutes(1) }));
        Assert.Equal(HttpStatusCode.NotModified, since.StatusCode);
        using var matched = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "cond", EtagToMatch = etag });
        Assert.Equal(HttpStatusCode.OK, matched.HttpStatusCode);

        var missing = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync("objects", "no-such-key"));
        Assert.Equal(("NoSuchKey", HttpStatusCode.NotFound), (missing.ErrorCode, missing.StatusCode));
    }

    [Fact]
    public async Task Copy_and_batch_delete_work_and_report_per_key()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "copy/source", ContentBody = "copied bytes", ContentType = "text/plain" });
        var copied = await _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = "objects", SourceKey = "copy/source", DestinationBucket = "files", DestinationKey = "copy/target" });
        Assert.Equal(HttpStatusCode.OK, copied.HttpStatusCode);
        using (var target = await _s3.GetObjectAsync("files", "copy/target"))
        {
            Assert.Equal("text/plain", target.Headers.ContentType);
            Assert.Equal("copied bytes", await new StreamReader(target.ResponseStream).ReadToEndAsync());
        }

        var self = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = "objects", SourceKey = "copy/source", DestinationBucket = "objects", DestinationKey = "copy/source" }));
        Assert.Equal("InvalidRequest", self.ErrorCode);

        var deleted = await _s3.DeleteObjectsAsync(new DeleteObjectsRequest
        {
            BucketName = "objects",
            Objects = [new KeyVersion { Key = "copy/source" }, new KeyVersion { Key = "copy/never-existed" }],
        });
        Assert.Equal(2, deleted.DeletedObjects.Count);
        Assert.Equal("NoSuchKey", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync("objects", "copy/source"))).ErrorCode);
    }

    [Fact]
    public async Task Listings_page_with_prefixes_delimiters_tokens_and_markers()
    {
        await _s3.PutBucketAsync("listing");
        string[] keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "d+e f", "ключ"];
        foreach (var key in keys)
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "listing", Key = key, ContentBody = key });
        }

        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "listing", MaxKeys = 2, ContinuationToken = token });
            Assert.True(page.KeyCount <= 2);
            seen.AddRange(page.S3Objects?.Select(o => o.Key) ?? []);
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        Assert.Equal(keys.Order(StringComparer.Ordinal), seen);

        var grouped = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "listing", Delimiter = "/" });
        Assert.Equal(["a/", "b/"], grouped.CommonPrefixes);
        Assert.Equal(["c", "d+e f", "ключ"], grouped.S3Objects.Select(o => o.Key));

        var nested = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "listing", Prefix = "a/", Delimiter = "/", StartAfter = "a/1" });
        Assert.Equal(["a/2"], nested.S3Objects.Select(o => o.Key));
        Assert.Equal(["a/b/"], nested.CommonPrefixes);

        var firstPage = await _s3.ListObjectsAsync(new ListObjectsRequest { BucketName = "listing", Delimiter = "/", MaxKeys = 1 });
        Assert.Equal(["a/"], firstPage.CommonPrefixes);
        var secondPage = await _s3.ListObjectsAsync(new ListObjectsRequest { BucketName = "listing", Delimiter = "/", MaxKeys = 2, Marker = firstPage.NextMarker });
        Assert.Equal(["b/"], secondPage.CommonPrefixes);
        Assert.Equal(["c"], secondPage.S3Objects.Select(o => o.Key));

        var encoded = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "listing", Prefix = "d", Encoding = EncodingType.Url });
        Assert.Equal("d%2Be%20f", Assert.Single(encoded.S3Objects).Key);

        var badKeys = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "listing", ContinuationToken = "%%%" }));
        Assert.Equal("InvalidArgument", badKeys.ErrorCode);
    }

    [Fact]
    public async Task Multipart_uploads_assemble_parts_with_the_s3_etag_and_validate_completion()
    {
        var part1 = TestData.Bytes(5 * 1024 * 1024, 1);
        var part2 = TestData.Bytes(5 * 1024 * 1024, 2);
        var part3 = TestData.Bytes(12_345, 3);
        var upload = await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = "objects", Key = "mp/big", ContentType = "video/test", ChecksumAlgorithm = ChecksumAlgorithm.CRC32 });
        var etags = new List<PartETag>();
        foreach (var (number, part) in new[] { (1, part1), (2, part2), (3, part3) })
        {
            var uploaded = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "mp/big", UploadId = upload.UploadId, PartNumber = number, InputStream = new MemoryStream(part), ChecksumAlgorithm = ChecksumAlgorithm.CRC32 });
            etags.Add(new PartETag { PartNumber = number, ETag = uploaded.ETag, ChecksumCRC32 = uploaded.ChecksumCRC32 });
        }

        var listed = await _s3.ListPartsAsync(new ListPartsRequest { BucketName = "objects", Key = "mp/big", UploadId = upload.UploadId, MaxParts = 2 });
        Assert.Equal([1, 2], listed.Parts.Select(p => p.PartNumber!.Value));
        Assert.True(listed.IsTruncated);
        Assert.Contains((await _s3.ListMultipartUploadsAsync("objects")).MultipartUploads, u => u.UploadId == upload.UploadId && u.Key == "mp/big");

        var wrongETag = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Complete(upload.UploadId, [new PartETag(1, "\"00000000000000000000000000000000\"")]));
        Assert.Equal("InvalidPart", wrongETag.ErrorCode);

        var completed = await Complete(upload.UploadId, etags);
        var expectedETag = Convert.ToHexStringLower(MD5.HashData(new[] { part1, part2, part3 }.SelectMany(MD5.HashData).ToArray())) + "-3";
        Assert.Equal($"\"{expectedETag}\"", completed.ETag);

        using var get = await _s3.GetObjectAsync("objects", "mp/big");
        Assert.Equal("video/test", get.Headers.ContentType);
        Assert.Equal(part1.Concat(part2).Concat(part3).ToArray(), await ReadAllAsync(get.ResponseStream));

        // Completing again (an SDK retrying after a lost reply) answers the same result.
        Assert.Equal(completed.ETag, (await Complete(upload.UploadId, etags)).ETag);
    }

    [Fact]
    public async Task A_part_smaller_than_5_MiB_that_is_not_last_is_refused_and_an_abort_frees_the_parts()
    {
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "mp/small");
        var first = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "mp/small", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(new byte[1000]) });
        var second = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "mp/small", UploadId = upload.UploadId, PartNumber = 2, InputStream = new MemoryStream(new byte[1000]) });
        var tooSmall = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => Complete(upload.UploadId, [new PartETag(1, first.ETag), new PartETag(2, second.ETag)], "mp/small"));
        Assert.Equal("EntityTooSmall", tooSmall.ErrorCode);

        await _s3.AbortMultipartUploadAsync("objects", "mp/small", upload.UploadId);
        Assert.DoesNotContain((await _s3.ListMultipartUploadsAsync("objects")).MultipartUploads ?? [], u => u.UploadId == upload.UploadId);
        Assert.Equal("NoSuchUpload", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "mp/small", UploadId = upload.UploadId, PartNumber = 3, InputStream = new MemoryStream([1]) }))).ErrorCode);
        Assert.Equal("NoSuchKey", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync("objects", "mp/small"))).ErrorCode);
    }

    [Fact]
    public async Task Upload_part_copy_takes_a_range_of_another_object()
    {
        var source = TestData.Bytes(6 * 1024 * 1024, 4);
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "mp/copy-source", InputStream = new MemoryStream(source) });
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "mp/copied");
        var part1 = await _s3.CopyPartAsync(new CopyPartRequest { SourceBucket = "objects", SourceKey = "mp/copy-source", DestinationBucket = "objects", DestinationKey = "mp/copied", UploadId = upload.UploadId, PartNumber = 1, FirstByte = 0, LastByte = (5 * 1024 * 1024) - 1 });
        var part2 = await _s3.CopyPartAsync(new CopyPartRequest { SourceBucket = "objects", SourceKey = "mp/copy-source", DestinationBucket = "objects", DestinationKey = "mp/copied", UploadId = upload.UploadId, PartNumber = 2, FirstByte = 5 * 1024 * 1024, LastByte = source.Length - 1 });
        await Complete(upload.UploadId, [new PartETag(1, part1.ETag), new PartETag(2, part2.ETag)], "mp/copied");
        using var get = await _s3.GetObjectAsync("objects", "mp/copied");
        Assert.Equal(source, await ReadAllAsync(get.ResponseStream));
        Assert.Null(get.PartsCount);

        // As S3: the part count comes with a request for a part.
        using var second = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = "objects", Key = "mp/copied", PartNumber = 2 });
        Assert.Equal(2, second.PartsCount);
        Assert.Equal(source[(5 * 1024 * 1024)..], await ReadAllAsync(second.ResponseStream));
    }

    [Fact]
    public async Task Abandoned_uploads_are_aborted_after_their_age()
    {
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "mp/abandoned");
        await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "mp/abandoned", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(TestData.Bytes(300_000, 5)) });
        var uploads = gateway.Host.Service<Storage.Gateway.Objects.Multipart.MultipartUploads>();
        Assert.Equal(0, await uploads.AbortBeforeAsync(DateTimeOffset.UtcNow.AddHours(-1), default));
        Assert.True(await uploads.AbortBeforeAsync(DateTimeOffset.UtcNow.AddSeconds(1), default) >= 1);
        Assert.Equal("NoSuchUpload", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.ListPartsAsync("objects", "mp/abandoned", upload.UploadId))).ErrorCode);
    }

    [Fact]
    public async Task Presigned_urls_work_until_they_expire()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "presigned/a b", ContentBody = "shared" });
        var url = await _s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest { BucketName = "objects", Key = "presigned/a b", Expires = DateTime.UtcNow.AddMinutes(5), Verb = HttpVerb.GET, Protocol = Protocol.HTTP });
        using var http = new HttpClient();
        Assert.Equal("shared", await http.GetStringAsync(url));

        var tampered = url.Replace("presigned/a", "presigned/b", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(tampered)).StatusCode);

        var put = await _s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest { BucketName = "objects", Key = "presigned/upload", Expires = DateTime.UtcNow.AddMinutes(5), Verb = HttpVerb.PUT, Protocol = Protocol.HTTP });
        Assert.Equal(HttpStatusCode.OK, (await http.PutAsync(put, new StringContent("via url"))).StatusCode);
        using var uploaded = await _s3.GetObjectAsync("objects", "presigned/upload");
        Assert.Equal("via url", await new StreamReader(uploaded.ResponseStream).ReadToEndAsync());
    }

    [Fact]
    public async Task The_rest_apis_and_s3_see_the_same_objects()
    {
        var data = TestData.Bytes(200_000, 6);
        using var rest = new HttpClient { BaseAddress = gateway.BaseAddress };
        (await rest.PutAsync("/object/sharedRest1", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        using (var viaS3 = await _s3.GetObjectAsync("objects", "sharedRest1"))
        {
            Assert.Equal(data, await ReadAllAsync(viaS3.ResponseStream));
        }

        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "sharedS3", InputStream = new MemoryStream(data) });
        Assert.Equal(data, await rest.GetByteArrayAsync("/object/sharedS3"));
    }

    [Fact]
    public async Task Unsupported_operations_answer_501_in_s3_xml()
    {
        var error = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetBucketTaggingAsync(new GetBucketTaggingRequest { BucketName = "objects" }));
        Assert.Equal(("NotImplemented", HttpStatusCode.NotImplemented), (error.ErrorCode, error.StatusCode));
    }

    [Fact]
    public async Task Object_tags_are_set_on_put_copy_and_complete_read_replaced_and_deleted_within_s3s_limits()
    {
        const string bucket = "tagging";
        await _s3.PutBucketAsync(bucket);
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "k", ContentBody = "tagged", TagSet = [new Tag { Key = "team", Value = "ops" }, new Tag { Key = "a b", Value = "c/d=e" }] });
        Assert.Equal([("a b", "c/d=e"), ("team", "ops")], await TagsAsync(bucket, "k"));
        var head = await _s3.GetObjectMetadataAsync(bucket, "k");
        Assert.Equal(2, await TagCountAsync(bucket, "k"));

        // Replacing tags changes neither the bytes nor the version's ETag.
        await _s3.PutObjectTaggingAsync(new PutObjectTaggingRequest { BucketName = bucket, Key = "k", Tagging = new Tagging { TagSet = [new Tag { Key = "stage", Value = "" }] } });
        Assert.Equal([("stage", "")], await TagsAsync(bucket, "k"));
        Assert.Equal(head.ETag, (await _s3.GetObjectMetadataAsync(bucket, "k")).ETag);

        // Copies take the source's tags unless told to replace them, independently of the metadata directive.
        await _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = bucket, SourceKey = "k", DestinationBucket = bucket, DestinationKey = "copied", MetadataDirective = S3MetadataDirective.REPLACE });
        Assert.Equal([("stage", "")], await TagsAsync(bucket, "copied"));
        await _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = bucket, SourceKey = "k", DestinationBucket = bucket, DestinationKey = "replaced", TaggingDirective = TaggingDirective.REPLACE, TagSet = [new Tag { Key = "x", Value = "y" }] });
        Assert.Equal([("x", "y")], await TagsAsync(bucket, "replaced"));

        var upload = await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = "mp", TagSet = [new Tag { Key = "built", Value = "ci" }] });
        var part = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "mp", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(TestData.Bytes(1000, 2)) });
        await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = bucket, Key = "mp", UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)] });
        Assert.Equal([("built", "ci")], await TagsAsync(bucket, "mp"));

        // What S3 refuses is refused, and the tags stay as they were.
        List<Tag>[] invalid =
        [
            [.. Enumerable.Range(0, 11).Select(i => new Tag { Key = $"k{i}", Value = "v" })],
            [new Tag { Key = new string('k', 129), Value = "v" }],
            [new Tag { Key = "k", Value = new string('v', 257) }],
            [new Tag { Key = "aws:reserved", Value = "v" }],
            [new Tag { Key = "semi;colon", Value = "v" }],
            [new Tag { Key = "twice", Value = "1" }, new Tag { Key = "twice", Value = "2" }],
        ];
        foreach (var tagSet in invalid)
        {
            var refused = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectTaggingAsync(new PutObjectTaggingRequest { BucketName = bucket, Key = "k", Tagging = new Tagging { TagSet = tagSet } }));
            Assert.Equal(("InvalidTag", HttpStatusCode.BadRequest), (refused.ErrorCode, refused.StatusCode));
            var refusedPut = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "refused", ContentBody = "x", TagSet = tagSet }));
            Assert.Equal("InvalidTag", refusedPut.ErrorCode);
        }

        Assert.Equal([("stage", "")], await TagsAsync(bucket, "k"));
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectMetadataAsync(bucket, "refused"))).StatusCode);
        Assert.Equal("NoSuchKey", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => TagsAsync(bucket, "missing"))).ErrorCode);
        Assert.Equal("NoSuchBucket", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => TagsAsync("no-such-bucket", "k"))).ErrorCode);

        await _s3.DeleteObjectTaggingAsync(new DeleteObjectTaggingRequest { BucketName = bucket, Key = "k" });
        Assert.Empty(await TagsAsync(bucket, "k"));
        Assert.Equal(0, await TagCountAsync(bucket, "k"));
    }

    private Task<CompleteMultipartUploadResponse> Complete(string uploadId, List<PartETag> parts, string key = "mp/big") =>
        _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = "objects", Key = key, UploadId = uploadId, PartETags = parts });

    private async Task<List<(string, string)>> TagsAsync(string bucket, string key) =>
        [.. ((await _s3.GetObjectTaggingAsync(new GetObjectTaggingRequest { BucketName = bucket, Key = key })).Tagging ?? []).OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => (t.Key, t.Value))];

    private async Task<int> TagCountAsync(string bucket, string key)
    {
        using var response = await _s3.GetObjectAsync(bucket, key);
        return response.TagCount ?? 0;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
