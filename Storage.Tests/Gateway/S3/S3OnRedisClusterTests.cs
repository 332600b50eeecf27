using Amazon.S3;
using Amazon.S3.Model;
using StackExchange.Redis;
using Storage.Gateway.Metadata.Redis;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// The S3 API of a gateway whose metadata is on a real three-master Redis Cluster under the default (untagged) key
/// prefix: each bucket in its own hash slot, so objects, multipart completions (a bucket and its companion in one
/// script) and deletes all run spread over the masters.
/// </summary>
public sealed class S3OnRedisClusterTests(RedisClusterFixture redis) : IClassFixture<RedisClusterFixture>
{
    [Fact]
    public async Task Objects_and_multipart_uploads_work_with_buckets_spread_over_the_masters()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var prefix = $"s3-{Guid.NewGuid():N}:";
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = redis.Cluster.ConnectionString,
            ["Storage:RedisKeyPrefix"] = prefix,
            ["Storage:S3:Credentials:0:AccessKey"] = S3Gateway.AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = S3Gateway.Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
        });
        using var s3 = new AmazonS3Client(new Amazon.Runtime.BasicAWSCredentials(S3Gateway.AccessKey, S3Gateway.Secret), new AmazonS3Config
        {
            ServiceURL = gateway.BaseAddress.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = S3Gateway.Region,
        });

        var buckets = Enumerable.Range(0, 12).Select(i => $"bucket-{i:D2}").ToArray();
        foreach (var bucket in buckets)
        {
            await s3.PutBucketAsync(bucket, cancellationToken);
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "small", ContentBody = bucket }, cancellationToken);
        }

        var first = TestData.Bytes(5 * 1024 * 1024, seed: 3);
        var last = TestData.Bytes(777, seed: 4);
        foreach (var bucket in buckets[..2])
        {
            var upload = await s3.InitiateMultipartUploadAsync(bucket, "big", cancellationToken);
            var abandoned = await s3.InitiateMultipartUploadAsync(bucket, "abandoned", cancellationToken);
            var listed = await s3.ListMultipartUploadsAsync(bucket, cancellationToken);
            Assert.Equal(["abandoned", "big"], listed.MultipartUploads.Select(u => u.Key).Order());
            var one = await s3.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "big", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(first) }, cancellationToken);
            var two = await s3.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = "big", UploadId = upload.UploadId, PartNumber = 2, InputStream = new MemoryStream(last) }, cancellationToken);
            await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = bucket, Key = "big", UploadId = upload.UploadId, PartETags = [new(1, one.ETag), new(2, two.ETag)] }, cancellationToken);
            await s3.AbortMultipartUploadAsync(bucket, "abandoned", abandoned.UploadId, cancellationToken);
            Assert.Empty((await s3.ListMultipartUploadsAsync(bucket, cancellationToken)).MultipartUploads ?? []);

            using var got = await s3.GetObjectAsync(bucket, "big", cancellationToken);
            using var body = new MemoryStream();
            await got.ResponseStream.CopyToAsync(body, cancellationToken);
            Assert.Equal([.. first, .. last], body.ToArray());
        }

        // Every bucket listed once (no hidden companion shows), each with its objects.
        var listedBuckets = (await s3.ListBucketsAsync(cancellationToken)).Buckets.Select(b => b.BucketName).ToArray();
        Assert.Equal(buckets, listedBuckets.Where(b => b.StartsWith("bucket-", StringComparison.Ordinal)).Order());
        Assert.Equal(["big", "small"], (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = buckets[0] }, cancellationToken)).S3Objects.Select(o => o.Key));

        // The buckets' records are on every master, not on one.
        await using var connection = await RedisClient.ConnectAsync(redis.Cluster.ConnectionString);
        var masters = connection.GetServers().Where(s => s.ServerType == ServerType.Cluster && !s.IsReplica).ToArray();
        foreach (var master in masters)
        {
            var held = 0;
            await foreach (var _ in master.KeysAsync(pattern: prefix + "{bucket-*}:objects:bucket-*"))
            {
                held++;
            }

            Assert.True(held > 0, $"master {master.EndPoint} holds none of the buckets");
        }

        // As in S3, a bucket goes with its uploads in progress: a bucket of the same name made later has none.
        var pending = await s3.InitiateMultipartUploadAsync(buckets[5], "pending", cancellationToken);
        await s3.UploadPartAsync(new UploadPartRequest { BucketName = buckets[5], Key = "pending", UploadId = pending.UploadId, PartNumber = 1, InputStream = new MemoryStream(last) }, cancellationToken);
        await s3.DeleteObjectAsync(buckets[5], "small", cancellationToken);
        await s3.DeleteBucketAsync(buckets[5], cancellationToken);
        Assert.DoesNotContain(buckets[5], (await s3.ListBucketsAsync(cancellationToken)).Buckets.Select(b => b.BucketName));
        var metadata = gateway.Service<Storage.Gateway.Metadata.IMetadataStore>();
        Assert.DoesNotContain($".multipart.{buckets[5]}", (await metadata.ListBucketsAsync(cancellationToken)).Select(b => b.Name));
        await s3.PutBucketAsync(buckets[5], cancellationToken);
        Assert.Empty((await s3.ListMultipartUploadsAsync(buckets[5], cancellationToken)).MultipartUploads ?? []);
    }
}
