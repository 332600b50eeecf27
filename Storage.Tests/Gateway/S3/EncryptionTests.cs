using System.Net;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;
using static Storage.Tests.Fixtures.ScopedKeysGateway;
using ByteRange = Amazon.S3.Model.ByteRange;
using ObjectEncryption = Storage.Gateway.Metadata.ObjectEncryption;
using StripeLayout = Storage.Gateway.Objects.StripeLayout;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Encryption at rest through AWSSDK.S3: SSE-S3 and SSE-C round trips, ranges across AES-GCM block boundaries, multipart
/// uploads, copies that re-encrypt, a bucket's default, two lost nodes, a wrong or missing key, and ciphertext changed on
/// a node (detected, never served). The nodes and the metadata hold no plaintext.
/// </summary>
public sealed class EncryptionTests(ScopedKeysGateway gateway) : IClassFixture<ScopedKeysGateway>
{
    private const int Block = 64 * 1024;

    private static readonly string CustomerKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sse_s3_round_trips_with_ranges_across_blocks_and_the_nodes_hold_no_plaintext()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-s3");
        var body = TestData.Bytes((5 * Block) + 123, 81);
        var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-s3", Key = "data.bin", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256 });
        Assert.Equal(ServerSideEncryptionMethod.AES256, put.ServerSideEncryptionMethod);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(body)), put.ETag.Trim('"'));

        using (var whole = await s3.GetObjectAsync("sse-s3", "data.bin", Cancellation))
        {
            Assert.Equal(ServerSideEncryptionMethod.AES256, whole.ServerSideEncryptionMethod);
            Assert.Equal(body, await ReadAsync(whole));
        }

        foreach (var (first, last) in new[] { (0L, 0L), (Block - 6L, Block + 9L), (Block, Block), (2L * Block - 1, 4L * Block + 1), (body.Length - 1L, body.Length - 1L), (100L, body.Length - 1L) })
        {
            using var range = await s3.GetObjectAsync(new GetObjectRequest { BucketName = "sse-s3", Key = "data.bin", ByteRange = new ByteRange(first, last) }, Cancellation);
            Assert.Equal(body.AsSpan((int)first, (int)(last - first + 1)).ToArray(), await ReadAsync(range));
        }

        var record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-s3", "data.bin", Cancellation))!;
        Assert.Equal(ObjectEncryption.ServerSide, record.Encryption!.Mode);
        var sample = body.AsSpan(Block, 64).ToArray();
        Assert.All(PartFilesOf(record), file => Assert.Equal(-1, File.ReadAllBytes(file).AsSpan().IndexOf(sample)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(Block - 1)]
    [InlineData(Block)]
    [InlineData(Block + 1)]
    [InlineData(2 * Block)]
    public async Task Every_size_around_a_block_boundary_round_trips(int size)
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync($"sse-size-{size}");
        var body = TestData.Bytes(size, size);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = $"sse-size-{size}", Key = "k", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256 }, Cancellation);
        using (var whole = await s3.GetObjectAsync($"sse-size-{size}", "k", Cancellation))
        {
            Assert.Equal(body, await ReadAsync(whole));
        }

        if (size > 0)
        {
            using var last = await s3.GetObjectAsync(new GetObjectRequest { BucketName = $"sse-size-{size}", Key = "k", ByteRange = new ByteRange(size - 1, size - 1) }, Cancellation);
            Assert.Equal([body[^1]], await ReadAsync(last));
        }
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(Block)]
    [InlineData(4 * Block)]
    public async Task A_body_that_fills_its_buffer_exactly_is_still_checked_to_its_end(int size)
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync($"sse-checked-{size}");
        var body = TestData.Bytes(size, 87);

        // AWSSDK.S3's default: an aws-chunked body with a CRC32 trailer, verified only once the body has ended.
        var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = $"sse-checked-{size}", Key = "trailer", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256, ChecksumAlgorithm = ChecksumAlgorithm.CRC32 }, Cancellation);
        Assert.False(string.IsNullOrEmpty(put.ChecksumCRC32));

        // A signed payload hash that the body does not match is refused, and nothing is stored.
        using var http = new HttpClient();
        using var forged = new HttpRequestMessage(HttpMethod.Put, new Uri(gateway.BaseAddress, $"/sse-checked-{size}/forged")) { Content = new ByteArrayContent(body) };
        forged.Headers.Add("x-amz-server-side-encryption", "AES256");
        Storage.Gateway.Security.SigV4.Sign(forged, Administrator.AccessKey, Administrator.Secret, "us-east-1", DateTimeOffset.UtcNow, Convert.ToHexStringLower(SHA256.HashData(TestData.Bytes(size, 88))));
        using var refused = await http.SendAsync(forged, Cancellation);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("XAmzContentSHA256Mismatch", await refused.Content.ReadAsStringAsync(Cancellation), StringComparison.Ordinal);
        Assert.Equal(["trailer"], (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = $"sse-checked-{size}" }, Cancellation)).S3Objects.Select(o => o.Key));
    }

    [Fact]
    public async Task A_small_encrypted_object_is_kept_in_its_record_as_ciphertext()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-small");
        var body = TestData.Bytes(1000, 82);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-small", Key = "tiny", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256 });
        var record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-small", "tiny", Cancellation))!;
        Assert.NotNull(record.Inline);
        Assert.Empty(record.Segments);
        Assert.Equal(-1, record.Inline.AsSpan().IndexOf(body.AsSpan(0, 32)));
        using var read = await s3.GetObjectAsync("sse-small", "tiny", Cancellation);
        Assert.Equal(body, await ReadAsync(read));
    }

    [Fact]
    public async Task Sse_c_needs_its_key_to_read_refuses_a_wrong_one_and_never_stores_it()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-c");
        var body = TestData.Bytes(300_000, 83);
        var put = await s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = "sse-c",
            Key = "secret.bin",
            InputStream = new MemoryStream(body),
            ServerSideEncryptionCustomerMethod = ServerSideEncryptionCustomerMethod.AES256,
            ServerSideEncryptionCustomerProvidedKey = CustomerKey,
        });
        Assert.Equal(ServerSideEncryptionCustomerMethod.AES256, put.ServerSideEncryptionCustomerMethod);
        Assert.NotEqual(Convert.ToHexStringLower(MD5.HashData(body)), put.ETag.Trim('"'));

        var missing = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectAsync("sse-c", "secret.bin", Cancellation));
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidRequest"), (missing.StatusCode, missing.ErrorCode));
        var head = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectMetadataAsync("sse-c", "secret.bin", Cancellation));
        Assert.Equal(HttpStatusCode.BadRequest, head.StatusCode);
        var wrong = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectAsync(WithKey("sse-c", "secret.bin", Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))), Cancellation));
        Assert.Equal((HttpStatusCode.Forbidden, "AccessDenied"), (wrong.StatusCode, wrong.ErrorCode));

        using (var read = await s3.GetObjectAsync(WithKey("sse-c", "secret.bin", CustomerKey), Cancellation))
        {
            Assert.Equal(body, await ReadAsync(read));
        }

        var ranged = WithKey("sse-c", "secret.bin", CustomerKey);
        ranged.ByteRange = new ByteRange(Block - 10, (2 * Block) + 10);
        using (var part = await s3.GetObjectAsync(ranged, Cancellation))
        {
            Assert.Equal(body.AsSpan(Block - 10, Block + 21).ToArray(), await ReadAsync(part));
        }

        // A copy opens the source with its key and stores the copy as the request says (here SSE-S3).
        await s3.CopyObjectAsync(new CopyObjectRequest
        {
            SourceBucket = "sse-c",
            SourceKey = "secret.bin",
            DestinationBucket = "sse-c",
            DestinationKey = "copy.bin",
            CopySourceServerSideEncryptionCustomerMethod = ServerSideEncryptionCustomerMethod.AES256,
            CopySourceServerSideEncryptionCustomerProvidedKey = CustomerKey,
            ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256,
        }, Cancellation);
        using (var copy = await s3.GetObjectAsync("sse-c", "copy.bin", Cancellation))
        {
            Assert.Equal(ServerSideEncryptionMethod.AES256, copy.ServerSideEncryptionMethod);
            Assert.Equal(body, await ReadAsync(copy));
        }

        var record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-c", "secret.bin", Cancellation))!;
        var keyBytes = Convert.FromBase64String(CustomerKey);
        Assert.True(record.Encryption!.IsCustomerKey);
        Assert.All(Directory.GetFiles(gateway.Host.DataPath, "*", SearchOption.AllDirectories), file => Assert.Equal(-1, File.ReadAllBytes(file).AsSpan().IndexOf(keyBytes)));
        var plain = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectAsync(WithKey(Shared, Document, CustomerKey), Cancellation));
        Assert.Equal(HttpStatusCode.BadRequest, plain.StatusCode);
    }

    [Fact]
    public async Task Multipart_uploads_encrypt_every_part_and_read_across_part_boundaries()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-multipart");
        foreach (var customer in new[] { false, true })
        {
            var key = customer ? "c.bin" : "s3.bin";
            var parts = new[] { TestData.Bytes(5 * 1024 * 1024, 84), TestData.Bytes(1_000_001, 85) };
            var create = new InitiateMultipartUploadRequest { BucketName = "sse-multipart", Key = key };
            if (customer)
            {
                (create.ServerSideEncryptionCustomerMethod, create.ServerSideEncryptionCustomerProvidedKey) = (ServerSideEncryptionCustomerMethod.AES256, CustomerKey);
            }
            else
            {
                create.ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256;
            }

            var upload = await s3.InitiateMultipartUploadAsync(create, Cancellation);
            var etags = new List<PartETag>();
            foreach (var (index, bytes) in parts.Index())
            {
                var part = new UploadPartRequest { BucketName = "sse-multipart", Key = key, UploadId = upload.UploadId, PartNumber = index + 1, InputStream = new MemoryStream(bytes) };
                if (customer)
                {
                    (part.ServerSideEncryptionCustomerMethod, part.ServerSideEncryptionCustomerProvidedKey) = (ServerSideEncryptionCustomerMethod.AES256, CustomerKey);
                }

                etags.Add(new PartETag(index + 1, (await s3.UploadPartAsync(part, Cancellation)).ETag));
            }

            if (customer)
            {
                // A part under another key than the upload's would make an object no single key reads: refused.
                var stray = new UploadPartRequest
                {
                    BucketName = "sse-multipart",
                    Key = key,
                    UploadId = upload.UploadId,
                    PartNumber = 3,
                    InputStream = new MemoryStream(parts[1]),
                    ServerSideEncryptionCustomerMethod = ServerSideEncryptionCustomerMethod.AES256,
                    ServerSideEncryptionCustomerProvidedKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
                };
                var wrongKey = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.UploadPartAsync(stray, Cancellation));
                Assert.Equal(HttpStatusCode.Forbidden, wrongKey.StatusCode);
            }

            await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = "sse-multipart", Key = key, UploadId = upload.UploadId, PartETags = etags }, Cancellation);
            var whole = parts.SelectMany(p => p).ToArray();
            var read = customer ? WithKey("sse-multipart", key, CustomerKey) : new GetObjectRequest { BucketName = "sse-multipart", Key = key };
            read.ByteRange = new ByteRange(parts[0].Length - 70_000, parts[0].Length + 70_000);
            using var across = await s3.GetObjectAsync(read, Cancellation);
            Assert.Equal(whole.AsSpan(parts[0].Length - 70_000, 140_001).ToArray(), await ReadAsync(across));
            var record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-multipart", key, Cancellation))!;
            Assert.Equal(2, record.Encryption!.DataKeys.Count);
        }
    }

    [Fact]
    public async Task A_bucket_default_encrypts_writes_that_ask_for_nothing_and_kms_is_refused()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-default");
        await s3.PutBucketEncryptionAsync(new PutBucketEncryptionRequest
        {
            BucketName = "sse-default",
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AES256 } }],
            },
        }, Cancellation);
        var rule = (await s3.GetBucketEncryptionAsync(new GetBucketEncryptionRequest { BucketName = "sse-default" }, Cancellation)).ServerSideEncryptionConfiguration.ServerSideEncryptionRules.Single();
        Assert.Equal(ServerSideEncryptionMethod.AES256, rule.ServerSideEncryptionByDefault.ServerSideEncryptionAlgorithm);

        var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-default", Key = "plain-request", ContentBody = "encrypted anyway" }, Cancellation);
        Assert.Equal(ServerSideEncryptionMethod.AES256, put.ServerSideEncryptionMethod);
        Assert.NotNull((await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-default", "plain-request", Cancellation))!.Encryption);

        var kms = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-default", Key = "kms", ContentBody = "x", ServerSideEncryptionMethod = ServerSideEncryptionMethod.AWSKMS }, Cancellation));
        Assert.Equal(HttpStatusCode.NotImplemented, kms.StatusCode);
        var kmsDefault = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.PutBucketEncryptionAsync(new PutBucketEncryptionRequest
        {
            BucketName = "sse-default",
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AWSKMS } }],
            },
        }, Cancellation));
        Assert.Equal(HttpStatusCode.NotImplemented, kmsDefault.StatusCode);
        Assert.DoesNotContain("kms", (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "sse-default" }, Cancellation)).S3Objects.Select(o => o.Key));

        await s3.DeleteBucketEncryptionAsync(new DeleteBucketEncryptionRequest { BucketName = "sse-default" }, Cancellation);
        var after = await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-default", Key = "after", ContentBody = "plain" }, Cancellation);
        Assert.Null((await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-default", "after", Cancellation))!.Encryption);
        Assert.NotEqual(ServerSideEncryptionMethod.AES256, after.ServerSideEncryptionMethod);
    }

    [Fact]
    public async Task Two_lost_nodes_are_rebuilt_from_parity_and_changed_ciphertext_is_never_served()
    {
        using var s3 = gateway.Client(Administrator);
        await s3.PutBucketAsync("sse-faults");
        var body = TestData.Bytes(600_000, 86);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-faults", Key = "striped", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256 }, Cancellation);
        var record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-faults", "striped", Cancellation))!;
        var files = PartFilesOf(record);

        // Two parts gone: the ciphertext is rebuilt from parity and decrypts.
        files.Take(2).ToList().ForEach(File.Delete);
        using (var read = await s3.GetObjectAsync("sse-faults", "striped", Cancellation))
        {
            Assert.Equal(body, await ReadAsync(read));
        }

        // A block changed on a node with its CRC made to match: the AES-GCM tag catches it; the read fails, nothing is served.
        // (Another object: the read above has the first one's parts repaired meanwhile, elsewhere.)
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = "sse-faults", Key = "tampered", InputStream = new MemoryStream(body), ServerSideEncryptionMethod = ServerSideEncryptionMethod.AES256 }, Cancellation);
        record = (await gateway.Host.Service<IMetadataStore>().GetObjectAsync("sse-faults", "tampered", Cancellation))!;
        files = PartFilesOf(record);
        var segment = record.Segments.Single();
        var blockLength = (int)((segment.Size + segment.DataShards - 1) / segment.DataShards);
        var stored = File.ReadAllBytes(files[0]);
        stored[100] ^= 0x01;
        StripeLayout.WriteBlock(stored.AsSpan(0, blockLength + StripeLayout.ChecksumBytes), stored.AsSpan(0, blockLength).ToArray());
        File.WriteAllBytes(files[0], stored);
        var tampered = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectAsync("sse-faults", "tampered", Cancellation));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, tampered.StatusCode);

        // The blocks it does not touch still read.
        using var later = await s3.GetObjectAsync(new GetObjectRequest { BucketName = "sse-faults", Key = "tampered", ByteRange = new ByteRange(500_000, 500_099) }, Cancellation);
        Assert.Equal(body.AsSpan(500_000, 100).ToArray(), await ReadAsync(later));
    }

    private List<string> PartFilesOf(ObjectRecord record) =>
        [.. record.Segments.SelectMany(segment => segment.Nodes.Select((node, shard) => Path.Combine(gateway.Host.NodePath(node), PartKeys.For(segment.Id, shard))))];

    private static GetObjectRequest WithKey(string bucket, string key, string customerKey) => new()
    {
        BucketName = bucket,
        Key = key,
        ServerSideEncryptionCustomerMethod = ServerSideEncryptionCustomerMethod.AES256,
        ServerSideEncryptionCustomerProvidedKey = customerKey,
    };

    private static async Task<byte[]> ReadAsync(GetObjectResponse response)
    {
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy, Cancellation);
        return copy.ToArray();
    }
}
