using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// What a broad conformance run with boto3 and the AWS SDK found wrong: non-ASCII metadata, connections poisoned by
/// refused 100-continue requests, whole-object checksums on Complete, conditional writes, encryption silently ignored,
/// representation headers dropped, a retried Complete, and the smaller gaps.
/// </summary>
public sealed class S3CorrectnessTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    private readonly AmazonS3Client _s3 = gateway.Client();

    [Fact]
    public async Task Non_ascii_metadata_is_stored_and_returned_rfc2047_encoded_as_aws_does()
    {
        // boto3 refuses non-ASCII metadata itself; without that check it sends the UTF-8 as given.
        var boto = await Boto3.RunAsync(gateway, """
            from botocore.handlers import validate_ascii_metadata
            s3.meta.events.unregister('before-parameter-build.s3.PutObject', validate_ascii_metadata)
            s3.put_object(Bucket='objects', Key='meta/utf8', Body=b'x', Metadata={'city': 'Zürich é'})
            head = s3.head_object(Bucket='objects', Key='meta/utf8')
            get = s3.get_object(Bucket='objects', Key='meta/utf8')
            disposition = error(lambda: s3.put_object(Bucket='objects', Key='meta/disposition', Body=b'x', ContentDisposition='attachment; filename="é.txt"'))
            result({'head': head['Metadata']['city'], 'get': get['Metadata']['city'], 'disposition': disposition,
                    'stored': error(lambda: s3.head_object(Bucket='objects', Key='meta/disposition'))})
            """);
        var encoded = $"=?UTF-8?B?{Convert.ToBase64String(Encoding.UTF8.GetBytes("Zürich é"))}?=";
        Assert.Equal(encoded, boto.GetProperty("head").GetString());
        Assert.Equal(encoded, boto.GetProperty("get").GetString());
        Assert.Equal("InvalidArgument", boto.GetProperty("disposition").GetString());
        Assert.Equal("404", boto.GetProperty("stored").GetString());

        // The AWS SDK for .NET sends non-ASCII as RFC 2047 itself: stored decoded, returned in the same form.
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "meta/encoded", ContentBody = "x", Metadata = { ["city"] = encoded } });
        var head = await _s3.GetObjectMetadataAsync("objects", "meta/encoded");
        Assert.Equal(encoded, head.Metadata["city"]);

        var control = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = "objects",
            Key = "meta/control",
            ContentBody = "x",
            Metadata = { ["bell"] = "=?UTF-8?B?AQ==?=" },
        }));
        Assert.Equal(("InvalidArgument", HttpStatusCode.BadRequest), (control.ErrorCode, control.StatusCode));
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectMetadataAsync("objects", "meta/control"))).StatusCode);
    }

    [Theory]
    [InlineData("/objects/expect-unsigned", 403)]
    [InlineData("/object/not-an-id", 400)]
    public async Task An_answer_given_before_a_100_continue_body_closes_the_connection(string path, int status)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"PUT {path} HTTP/1.1\r\nHost: {gateway.BaseAddress.Authority}\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"));

        var answer = await ReadHeadAsync(stream);
        Assert.StartsWith($"HTTP/1.1 {status} ", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", answer, StringComparison.OrdinalIgnoreCase);

        // A client that sends its body anyway, then another request, must not get that request parsed out of the body.
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"hello worldGET /health HTTP/1.1\r\nHost: {gateway.BaseAddress.Authority}\r\n\r\n"));
        }
        catch (IOException)
        {
            // Already closed: what we want.
        }

        var rest = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        try
        {
            while ((read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10))) > 0)
            {
                rest.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset after the close is a close too.
        }

        Assert.DoesNotContain("HTTP/1.1", Encoding.ASCII.GetString(rest.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_verifies_full_object_and_composite_checksums_and_head_returns_them()
    {
        var boto = await Boto3.RunAsync(gateway, """
            part1 = os.urandom(5 * 1024 * 1024)
            part2 = os.urandom(1234567)
            def crc32(data):
                return base64.b64encode(zlib.crc32(data).to_bytes(4, 'big')).decode()
            def upload(key, algorithm, checksum_type, digest):
                create = {'Bucket': 'objects', 'Key': key, 'ChecksumAlgorithm': algorithm}
                if checksum_type: create['ChecksumType'] = checksum_type
                upload_id = s3.create_multipart_upload(**create)['UploadId']
                parts = []
                for number, body in ((1, part1), (2, part2)):
                    sent = s3.upload_part(Bucket='objects', Key=key, UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm=algorithm)
                    parts.append({'PartNumber': number, 'ETag': sent['ETag'], 'Checksum' + algorithm: sent['Checksum' + algorithm]})
                return upload_id, parts
            full = crc32(part1 + part2)

            upload_id, parts = upload('sums/full', 'CRC32', 'FULL_OBJECT', None)
            bad = error(lambda: s3.complete_multipart_upload(Bucket='objects', Key='sums/full', UploadId=upload_id, MultipartUpload={'Parts': parts},
                ChecksumCRC32=crc32(b'not it'), ChecksumType='FULL_OBJECT'))
            done = s3.complete_multipart_upload(Bucket='objects', Key='sums/full', UploadId=upload_id, MultipartUpload={'Parts': parts},
                ChecksumCRC32=full, ChecksumType='FULL_OBJECT')
            head = s3.head_object(Bucket='objects', Key='sums/full', ChecksumMode='ENABLED')

            upload_id, parts = upload('sums/composite', 'SHA256', None, None)
            digests = b''.join(base64.b64decode(p['ChecksumSHA256']) for p in parts)
            composite = base64.b64encode(hashlib.sha256(digests).digest()).decode() + '-2'
            other_type = error(lambda: s3.complete_multipart_upload(Bucket='objects', Key='sums/composite', UploadId=upload_id, MultipartUpload={'Parts': parts},
                ChecksumSHA256=composite, ChecksumType='FULL_OBJECT'))

            # Without a type the upload's applies, and a composite value may come without its part count.
            composite_done = s3.complete_multipart_upload(Bucket='objects', Key='sums/composite', UploadId=upload_id, MultipartUpload={'Parts': parts},
                ChecksumSHA256=composite[:-2])
            composite_head = s3.head_object(Bucket='objects', Key='sums/composite', ChecksumMode='ENABLED')
            result({'expected': full, 'bad': bad, 'done': done.get('ChecksumCRC32'), 'doneType': done.get('ChecksumType'),
                    'head': head.get('ChecksumCRC32'), 'headType': head.get('ChecksumType'), 'parts': head.get('PartsCount'),
                    'otherType': other_type, 'composite': composite, 'compositeDone': composite_done.get('ChecksumSHA256'), 'compositeHead': composite_head.get('ChecksumSHA256')})
            """);
        var expected = boto.GetProperty("expected").GetString();
        Assert.Equal("BadDigest", boto.GetProperty("bad").GetString());
        Assert.Equal(expected, boto.GetProperty("done").GetString());
        Assert.Equal("FULL_OBJECT", boto.GetProperty("doneType").GetString());
        Assert.Equal(expected, boto.GetProperty("head").GetString());
        Assert.Equal("FULL_OBJECT", boto.GetProperty("headType").GetString());
        Assert.Equal("InvalidRequest", boto.GetProperty("otherType").GetString());
        var composite = boto.GetProperty("composite").GetString();
        Assert.Equal(composite, boto.GetProperty("compositeDone").GetString());
        Assert.Equal(composite, boto.GetProperty("compositeHead").GetString());
    }

    [Fact]
    public async Task Conditional_puts_and_completes_write_only_when_their_condition_holds()
    {
        var created = await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "lock", ContentBody = "first", IfNoneMatch = "*" });
        var exists = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "lock", ContentBody = "second", IfNoneMatch = "*" }));
        Assert.Equal(("PreconditionFailed", HttpStatusCode.PreconditionFailed), (exists.ErrorCode, exists.StatusCode));

        var stale = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "lock", ContentBody = "third", IfMatch = "\"0123456789abcdef0123456789abcdef\"" }));
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        var missing = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "no-lock", ContentBody = "x", IfMatch = created.ETag }));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "lock", ContentBody = "updated", IfMatch = created.ETag });
        Assert.Equal("updated", await ReadAsync("objects", "lock"));
        var copy = new CopyObjectRequest { SourceBucket = "objects", SourceKey = "no-such-lock-source", DestinationBucket = "objects", DestinationKey = "lock", IfNoneMatch = "*" };
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = copy.SourceKey, ContentBody = "copied" });
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CopyObjectAsync(copy))).StatusCode);
        Assert.Equal("updated", await ReadAsync("objects", "lock"));

        // A Complete whose condition fails leaves the upload as it was: it can still be completed.
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "lock");
        var part = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "lock", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream("multipart"u8.ToArray()) });
        var complete = new CompleteMultipartUploadRequest { BucketName = "objects", Key = "lock", UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)], IfNoneMatch = "*" };
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CompleteMultipartUploadAsync(complete))).StatusCode);
        Assert.Equal("updated", await ReadAsync("objects", "lock"));
        complete.IfNoneMatch = null;
        await _s3.CompleteMultipartUploadAsync(complete);
        Assert.Equal("multipart", await ReadAsync("objects", "lock"));
    }

    [Theory]
    [InlineData("x-amz-server-side-encryption", "aws:kms")]
    [InlineData("x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:us-east-1:1:key/k")]
    [InlineData("x-amz-object-lock-mode", "GOVERNANCE")]
    [InlineData("x-amz-storage-class", "GLACIER")]
    public async Task Kms_and_other_unimplemented_requests_are_refused_with_501_and_store_nothing(string header, string value)
    {
        var key = $"sse/{header}/{value}";
        var put = new PutObjectRequest { BucketName = "objects", Key = key, ContentBody = "secret" };
        put.Headers[header] = value;
        var refused = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(put));
        Assert.Equal(("NotImplemented", HttpStatusCode.NotImplemented), (refused.ErrorCode, refused.StatusCode));
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectMetadataAsync("objects", key))).StatusCode);
    }

    [Theory]
    [InlineData("x-amz-server-side-encryption", "AES128", "InvalidArgument")]
    [InlineData("x-amz-server-side-encryption-customer-algorithm", "AES256", "InvalidArgument")]
    public async Task Malformed_encryption_headers_are_refused_and_store_nothing(string header, string value, string code)
    {
        var key = $"sse/{header}/{value}";
        var put = new PutObjectRequest { BucketName = "objects", Key = key, ContentBody = "secret" };
        put.Headers[header] = value;
        var refused = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(put));
        Assert.Equal((code, HttpStatusCode.BadRequest), (refused.ErrorCode, refused.StatusCode));
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectMetadataAsync("objects", key))).StatusCode);
    }

    [Fact]
    public async Task A_customer_key_for_an_object_stored_without_one_is_refused_rather_than_ignored()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "sse/plain", ContentBody = "plain" });
        var customerKey = Convert.ToBase64String(TestData.Bytes(32, 4));
        var refused = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest
        {
            BucketName = "objects",
            Key = "sse/plain",
            ServerSideEncryptionCustomerMethod = ServerSideEncryptionCustomerMethod.AES256,
            ServerSideEncryptionCustomerProvidedKey = customerKey,
        }));
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidRequest"), (refused.StatusCode, refused.ErrorCode));
    }

    [Fact]
    public async Task Representation_headers_are_stored_returned_and_copied_by_directive()
    {
        var put = new PutObjectRequest { BucketName = "objects", Key = "headers/page.html.gz", ContentBody = "<p>hi</p>", ContentType = "text/html" };
        put.Headers.CacheControl = "public, max-age=3600";
        put.Headers.ContentEncoding = "gzip";
        put.Headers.ContentDisposition = "inline";
        put.Headers["Content-Language"] = "de-CH";
        put.Headers["Expires"] = "Wed, 02 Jan 2030 03:04:05 GMT";
        await _s3.PutObjectAsync(put);

        await AssertHeadersAsync("headers/page.html.gz");
        await _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = "objects", SourceKey = "headers/page.html.gz", DestinationBucket = "objects", DestinationKey = "headers/copy" });
        await AssertHeadersAsync("headers/copy");

        var replace = new CopyObjectRequest { SourceBucket = "objects", SourceKey = "headers/page.html.gz", DestinationBucket = "objects", DestinationKey = "headers/replaced", MetadataDirective = S3MetadataDirective.REPLACE, ContentType = "text/plain" };
        replace.Headers.CacheControl = "no-store";
        await _s3.CopyObjectAsync(replace);
        var replaced = await _s3.GetObjectMetadataAsync("objects", "headers/replaced");
        Assert.Equal("no-store", replaced.Headers.CacheControl);
        Assert.Null(replaced.Headers.ContentEncoding);
        Assert.Equal("text/plain", replaced.Headers.ContentType);

        async Task AssertHeadersAsync(string key)
        {
            var head = await _s3.GetObjectMetadataAsync("objects", key);
            Assert.Equal("public, max-age=3600", head.Headers.CacheControl);
            Assert.Equal("gzip", head.Headers.ContentEncoding);
            Assert.Equal("inline", head.Headers.ContentDisposition);
            Assert.Equal("de-CH", head.Headers["Content-Language"]);
            Assert.Equal("Wed, 02 Jan 2030 03:04:05 GMT", head.ExpiresString);
        }
    }

    [Fact]
    public async Task A_repeated_complete_answers_the_same_result_for_the_same_parts()
    {
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "retried");
        var part = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "retried", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream("once"u8.ToArray()) });
        var complete = new CompleteMultipartUploadRequest { BucketName = "objects", Key = "retried", UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)] };
        var first = await _s3.CompleteMultipartUploadAsync(complete);
        var again = await _s3.CompleteMultipartUploadAsync(complete);
        Assert.Equal(first.ETag, again.ETag);
        Assert.Equal("once", await ReadAsync("objects", "retried"));

        complete.PartETags = [new PartETag(1, "\"0123456789abcdef0123456789abcdef\"")];
        Assert.Equal("NoSuchUpload", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CompleteMultipartUploadAsync(complete))).ErrorCode);
        var elsewhere = new CompleteMultipartUploadRequest { BucketName = "objects", Key = "other", UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)] };
        Assert.Equal("NoSuchUpload", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CompleteMultipartUploadAsync(elsewhere))).ErrorCode);
    }

    [Fact]
    public async Task Copy_ranges_past_the_source_are_refused_and_parts_are_counted()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "small-source", ContentBody = "0123456789" });
        var upload = await _s3.InitiateMultipartUploadAsync("objects", "assembled");
        CopyPartRequest Copy(int number, long first, long last) => new()
        {
            SourceBucket = "objects",
            SourceKey = "small-source",
            DestinationBucket = "objects",
            DestinationKey = "assembled",
            UploadId = upload.UploadId,
            PartNumber = number,
            FirstByte = first,
            LastByte = last,
        };

        var outside = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.CopyPartAsync(Copy(1, 0, 10)));
        Assert.Equal(("InvalidArgument", HttpStatusCode.BadRequest), (outside.ErrorCode, outside.StatusCode));

        var first = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "assembled", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(TestData.Bytes(5 * 1024 * 1024, 3)) });
        var second = await _s3.CopyPartAsync(Copy(2, 2, 9));
        await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = "objects", Key = "assembled", UploadId = upload.UploadId, PartETags = [new PartETag(1, first.ETag), new PartETag(2, second.ETag)] });

        var head = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = "objects", Key = "assembled", PartNumber = 2 });
        Assert.Equal(2, head.PartsCount);
        Assert.Equal(8, head.ContentLength);
        Assert.Null((await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = "objects", Key = "small-source", PartNumber = 1 })).PartsCount);
    }

    [Fact]
    public async Task Copied_parts_get_the_uploads_checksum_and_parts_of_another_algorithm_are_refused()
    {
        var source = TestData.Bytes(6 * 1024 * 1024, 12);
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "sums/copy-source", InputStream = new MemoryStream(source) });
        var upload = await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = "objects", Key = "sums/copied", ChecksumAlgorithm = ChecksumAlgorithm.CRC32 });
        var copied = await _s3.CopyPartAsync(new CopyPartRequest
        {
            SourceBucket = "objects",
            SourceKey = "sums/copy-source",
            DestinationBucket = "objects",
            DestinationKey = "sums/copied",
            UploadId = upload.UploadId,
            PartNumber = 1,
        });
        using var crc32 = Storage.Gateway.Objects.Integrity.PayloadChecksum.Create("CRC32")!;
        crc32.Append(source);
        Assert.Equal(crc32.GetBase64(), copied.ChecksumCRC32);

        var other = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.UploadPartAsync(new UploadPartRequest
        {
            BucketName = "objects",
            Key = "sums/copied",
            UploadId = upload.UploadId,
            PartNumber = 2,
            InputStream = new MemoryStream([1, 2, 3]),
            ChecksumAlgorithm = ChecksumAlgorithm.SHA256,
        }));
        Assert.Equal(("InvalidRequest", HttpStatusCode.BadRequest), (other.ErrorCode, other.StatusCode));

        var done = await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
        {
            BucketName = "objects",
            Key = "sums/copied",
            UploadId = upload.UploadId,
            PartETags = [new PartETag { PartNumber = 1, ETag = copied.ETag, ChecksumCRC32 = copied.ChecksumCRC32 }],
        });
        Assert.EndsWith("-1", done.ChecksumCRC32, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Canned_acls_unsigned_post_uploads_and_grants_that_cannot_be_honoured_are_refused()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "acl/private", ContentBody = "x", CannedACL = S3CannedACL.Private });
        var publicRead = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "acl/public", ContentBody = "x", CannedACL = S3CannedACL.PublicRead }));
        Assert.Equal(("NotImplemented", HttpStatusCode.NotImplemented), (publicRead.ErrorCode, publicRead.StatusCode));
        await EnsurePublicBucketAsync(new PutBucketRequest { BucketName = S3Gateway.PublicBucket, CannedACL = S3CannedACL.PublicRead });
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = S3Gateway.PublicBucket, Key = "acl/public", ContentBody = "x", CannedACL = S3CannedACL.PublicRead });

        var locked = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.PutBucketAsync(new PutBucketRequest { BucketName = "worm-bucket", ObjectLockEnabledForBucket = true }));
        Assert.Equal(HttpStatusCode.NotImplemented, locked.StatusCode);
        Assert.DoesNotContain("worm-bucket", (await _s3.ListBucketsAsync()).Buckets.Select(b => b.BucketName));

        using var form = new MultipartFormDataContent { { new StringContent("acl/form"), "key" }, { new ByteArrayContent("x"u8.ToArray()), "file", "x.txt" } };
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        var post = await http.PostAsync("/objects", form);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Contains("<Code>AccessDenied</Code>", await post.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty((await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "objects", Prefix = "acl/form" })).S3Objects ?? []);
    }

    [Fact]
    public async Task List_buckets_pages_and_unversioned_buckets_list_every_object_as_its_null_version()
    {
        foreach (var name in new[] { "page-a", "page-b", "page-c" })
        {
            await _s3.PutBucketAsync(name);
        }

        var first = await _s3.ListBucketsAsync(new ListBucketsRequest { MaxBuckets = 2, Prefix = "page-" });
        Assert.Equal(["page-a", "page-b"], first.Buckets.Select(b => b.BucketName));
        Assert.NotNull(first.ContinuationToken);
        var second = await _s3.ListBucketsAsync(new ListBucketsRequest { MaxBuckets = 2, Prefix = "page-", ContinuationToken = first.ContinuationToken });
        Assert.Equal(["page-c"], second.Buckets.Select(b => b.BucketName));
        Assert.Null(second.ContinuationToken);

        foreach (var key in new[] { "v/a", "v/b", "v/c/deep" })
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "page-a", Key = key, ContentBody = key });
        }

        var versions = await _s3.ListVersionsAsync(new ListVersionsRequest { BucketName = "page-a", Prefix = "v/", Delimiter = "/", MaxKeys = 1 });
        Assert.True(versions.IsTruncated);
        Assert.Equal(("v/a", "null", true), (versions.Versions.Single().Key, versions.Versions[0].VersionId, versions.Versions[0].IsLatest ?? false));
        var rest = await _s3.ListVersionsAsync(new ListVersionsRequest { BucketName = "page-a", Prefix = "v/", Delimiter = "/", KeyMarker = versions.NextKeyMarker, VersionIdMarker = versions.NextVersionIdMarker });
        Assert.Equal(["v/b"], rest.Versions.Select(v => v.Key));
        Assert.Equal(["v/c/"], rest.CommonPrefixes);

        // The way tools empty a bucket: delete every listed version.
        var all = await _s3.ListVersionsAsync(new ListVersionsRequest { BucketName = "page-a" });
        var deleted = await _s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = "page-a", Objects = [.. all.Versions.Select(v => new KeyVersion { Key = v.Key, VersionId = v.VersionId })] });
        Assert.Equal(3, deleted.DeletedObjects.Count);
        Assert.Equal("InvalidArgument", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectAsync(new GetObjectRequest { BucketName = "page-a", Key = "v/a", VersionId = "3HL4kqtJlcpXroDTDmJ" }))).ErrorCode);
        await _s3.DeleteBucketAsync("page-a");
    }

    [Fact]
    public async Task Characters_xml_cannot_carry_are_listed_as_character_references_and_anonymous_overrides_refused()
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "xml/start", ContentBody = "x" });
        await EnsurePublicBucketAsync(new PutBucketRequest { BucketName = S3Gateway.PublicBucket });

        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = S3Gateway.PublicBucket, Key = "page", ContentBody = "<script>", ContentType = "text/plain" });
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        var listing = await http.GetAsync($"/{S3Gateway.PublicBucket}?list-type=2&prefix=%01");
        Assert.Equal(HttpStatusCode.OK, listing.StatusCode);
        Assert.Contains("<Prefix>&#x1;</Prefix>", await listing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var overridden = await http.GetAsync($"/{S3Gateway.PublicBucket}/page?response-content-type=text/html");
        Assert.Equal(HttpStatusCode.BadRequest, overridden.StatusCode);
        Assert.Equal("text/plain", (await http.GetAsync($"/{S3Gateway.PublicBucket}/page")).Content.Headers.ContentType?.MediaType);
    }

    private async Task EnsurePublicBucketAsync(PutBucketRequest request)
    {
        try
        {
            await _s3.PutBucketAsync(request);
        }
        catch (BucketAlreadyOwnedByYouException)
        {
            // Another test of this class made it.
        }
    }

    private async Task<string> ReadAsync(string bucket, string key)
    {
        using var get = await _s3.GetObjectAsync(bucket, key);
        using var reader = new StreamReader(get.ResponseStream);
        return await reader.ReadToEndAsync();
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(10)) == 1)
        {
            head.Append((char)one[0]);
        }

        return head.ToString();
    }
}
