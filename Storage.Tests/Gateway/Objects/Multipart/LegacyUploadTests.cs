using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Multipart;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Objects.Multipart;

/// <summary>
/// Uploads in progress when a gateway of the version with one shared hidden bucket stopped: the next start moves them
/// to their buckets' companions, and they complete as if nothing happened.
/// </summary>
public sealed class LegacyUploadTests
{
    [Fact]
    public async Task Uploads_left_in_the_shared_hidden_bucket_move_at_start_up_and_complete()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("legacy-uploads");
        var first = TestData.Bytes((int)MultipartUploads.MinimumPartSize, seed: 1);
        var last = TestData.Bytes(1234, seed: 2);
        MultipartUpload upload;
        UploadedPart[] parts;
        await using (var gateway = await GatewayHost.StartAsync(dataPath: data.Path))
        {
            var store = gateway.Service<ObjectStore>();
            var uploads = gateway.Service<MultipartUploads>();
            var metadata = gateway.Service<IMetadataStore>();
            await store.EnsureBucketAsync("data", cancellationToken);
            upload = await uploads.CreateAsync("data", "big", ObjectAttributes.None, null, null, null, cancellationToken);
            parts = [
                (await uploads.PutPartAsync(upload, 1, await uploads.WritePartAsync(upload, 1, new MemoryStream(first), first.Length, null, null, cancellationToken), null, cancellationToken))!,
                (await uploads.PutPartAsync(upload, 2, await uploads.WritePartAsync(upload, 2, new MemoryStream(last), last.Length, null, null, cancellationToken), null, cancellationToken))!,
            ];

            // Back to where the earlier version kept them: every record in '.multipart', and a part whose upload is gone.
            var companion = MultipartUploads.BucketFor("data");
            await store.EnsureBucketAsync(MultipartUploads.LegacyBucket, cancellationToken);
            foreach (var record in await metadata.ListObjectsAsync(companion, "", null, 100, cancellationToken))
            {
                Assert.True(await metadata.CommitAssembledObjectAsync(record with { Bucket = MultipartUploads.LegacyBucket }, companion,
                    [new AssembledSource(record.Key, record.Segments.Count > 0 ? record.Segments[0].Id : null)], DateTimeOffset.UtcNow, cancellationToken));
            }

            var orphan = await store.WriteAsync(MultipartUploads.LegacyBucket, "orphan", new MemoryStream(last), last.Length, null, null, cancellationToken);
            await store.CommitAsync(MultipartUploads.LegacyBucket, "p/00000000000000000000000000000000/00001", orphan, ObjectAttributes.None, null, cancellationToken);
            Assert.Equal(BucketDeleteResult.Deleted, await metadata.DeleteBucketAsync(companion, cancellationToken));
            Assert.Null(await uploads.GetAsync("data", "big", upload.UploadId, cancellationToken));
        }

        await using (var gateway = await GatewayHost.StartAsync(dataPath: data.Path))
        {
            var uploads = gateway.Service<MultipartUploads>();
            var metadata = gateway.Service<IMetadataStore>();
            Assert.Null(await metadata.GetBucketAsync(MultipartUploads.LegacyBucket, cancellationToken));
            var moved = await uploads.GetAsync("data", "big", upload.UploadId, cancellationToken);
            Assert.NotNull(moved);
            Assert.Equal(parts.Select(p => p.ETag), (await uploads.ListPartsAsync(moved, 0, 10, cancellationToken)).Select(p => p.ETag));

            var completed = await uploads.CompleteAsync(moved, [.. parts.Select(p => new CompletedPart(p.Number, p.ETag, null))], null, WriteCondition.None, null, cancellationToken);
            Assert.NotNull(completed);
            await using var read = (await gateway.Service<ObjectStore>().GetAsync("data", "big", null, cancellationToken))!;
            using var body = new MemoryStream();
            await read.Content.CopyToAsync(body, cancellationToken);
            Assert.Equal([.. first, .. last], body.ToArray());
        }
    }
}
