using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Faults;

/// <summary>A versioned bucket's history on the distributed store (Redis metadata, s3rver nodes) when nodes are lost and come back empty.</summary>
public sealed class VersionHistoryTests
{
    [Fact]
    public async Task Every_version_survives_node_loss_and_healing_refills_the_parts_of_noncurrent_versions_too()
    {
        // Scheduled healing is far away: only the detection of the emptied node can start it.
        var settings = new Dictionary<string, string>(StorageCluster.S3Settings) { ["Storage:Maintenance:HealInterval"] = "01:00:00" };
        await using var cluster = await StorageCluster.StartAsync(8, settings);
        await using var gateway = await cluster.StartGatewayAsync();
        using var s3 = StorageCluster.S3Client(gateway.BaseAddress);
        await s3.PutBucketAsync("history");
        await s3.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "history", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });

        var versions = new Dictionary<string, byte[]>();
        for (var i = 0; i < 3; i++)
        {
            var data = TestData.Bytes(1_500_000 + i, 40 + i);
            using var body = new MemoryStream(data);
            var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = "history", Key = "big", InputStream = body });
            versions[put.VersionId] = SHA256.HashData(data);
        }

        var marker = await s3.DeleteObjectAsync("history", "big");
        Assert.Equal("true", marker.DeleteMarker);
        Assert.Equal(3, (await cluster.ObjectsAsync()).Count(o => o.Key == "big"));
        Assert.Empty(await cluster.MissingPartsAsync());

        await cluster.Nodes["node5"].RestartEmptyAsync();
        await NodeRecoveryTests.WaitUntilAsync(async () => (await cluster.MissingPartsAsync()).Count == 0, "every part of node5, noncurrent versions' too, to be rebuilt on it");

        await cluster.Nodes["node1"].StopAsync();
        await cluster.Nodes["node8"].StopAsync();
        foreach (var (versionId, sha) in versions)
        {
            using var got = await s3.GetObjectAsync(new GetObjectRequest { BucketName = "history", Key = "big", VersionId = versionId });
            using var copy = new MemoryStream();
            await got.ResponseStream.CopyToAsync(copy);
            Assert.Equal(sha, SHA256.HashData(copy.ToArray()));
        }

        var hidden = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => s3.GetObjectAsync("history", "big"));
        Assert.Equal("NoSuchKey", hidden.ErrorCode);
        var listing = await s3.ListVersionsAsync("history");
        Assert.Equal([marker.VersionId, .. versions.Keys.Reverse()], listing.Versions.Select(v => v.VersionId));
        Assert.True(listing.Versions[0].IsDeleteMarker);
    }

    [Fact]
    public async Task A_part_a_read_of_a_noncurrent_version_finds_missing_is_restored_there()
    {
        await using var cluster = await StorageCluster.StartAsync(8, StorageCluster.S3Settings);
        await using var gateway = await cluster.StartGatewayAsync();
        using var s3 = StorageCluster.S3Client(gateway.BaseAddress);
        await s3.PutBucketAsync("older");
        await s3.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "older", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });
        var data = TestData.Bytes(2_000_000, 50);
        string firstVersion;
        using (var body = new MemoryStream(data))
        {
            firstVersion = (await s3.PutObjectAsync(new PutObjectRequest { BucketName = "older", Key = "k", InputStream = body })).VersionId;
        }

        await s3.PutObjectAsync(new PutObjectRequest { BucketName = "older", Key = "k", ContentBody = "newer" });
        var segment = (await cluster.ObjectsAsync()).Single(o => o.Key == "k" && o.VersionId == firstVersion).Segments.Single();
        using (var node = new Storage.Gateway.Nodes.S3Node(segment.Nodes[0], Storage.Gateway.Nodes.S3NodeOptions.Parse(cluster.Nodes[segment.Nodes[0]].ConnectionString)))
        {
            await node.DeleteAsync(Storage.Gateway.Nodes.PartKeys.For(segment.Id, 0), default);
        }

        Assert.Single(await cluster.MissingPartsAsync());
        using (var got = await s3.GetObjectAsync(new GetObjectRequest { BucketName = "older", Key = "k", VersionId = firstVersion }))
        using (var copy = new MemoryStream())
        {
            await got.ResponseStream.CopyToAsync(copy);
            Assert.Equal(data, copy.ToArray());
        }

        await NodeRecoveryTests.WaitUntilAsync(async () => (await cluster.MissingPartsAsync()).Count == 0, "the part of the older version the read found missing to be restored");
    }
}
