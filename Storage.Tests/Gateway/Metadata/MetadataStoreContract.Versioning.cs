using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata;

/// <summary>Versioning as every metadata store keeps it: noncurrent versions, delete markers, the null version, listings.</summary>
public abstract partial class MetadataStoreContract
{
    [Fact]
    public async Task Versioning_keeps_every_version_newest_first_and_a_delete_marker_hides_the_key_until_removed()
    {
        var store = await CreateStoreAsync();
        await VersionedBucketAsync(store, "v", BucketVersioning.Enabled);
        Assert.Equal(BucketVersioning.Enabled, (await store.GetBucketAsync("v", default))!.Versioning);
        var v1 = Version("v", "k", "a1");
        var v2 = Version("v", "k", "a2");
        var v3 = Version("v", "k", "a3");
        Assert.Null(await store.CommitObjectAsync(v1, Now, default));
        Assert.Equal("a1", (await store.CommitObjectAsync(v2, Now, default))!.VersionId);
        await store.CommitObjectAsync(v3, Now, default);

        // Kept, not reclaimed: every version's parts stay accounted.
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));
        Assert.Equal(3, (await store.GetNodeUsageAsync(default))["node1"].PartCount);
        Assert.Equal(v3.ETag, (await store.GetObjectAsync("v", "k", default))!.ETag);
        Assert.Equal(MetadataJsonContext.SerializeRecord(v1), MetadataJsonContext.SerializeRecord((await store.GetObjectVersionAsync("v", "k", "a1", default))!));
        Assert.Null(await store.GetObjectVersionAsync("v", "k", "zz", default));
        Assert.Null(await store.GetObjectVersionAsync("v", "k", null, default));

        // Maintenance that judged a noncurrent version never removes one that is current.
        Assert.Null(await store.DeleteObjectVersionAsync("v", "k", "a3", Now, default, onlyIfNoncurrent: true));
        Assert.Equal("a3", (await store.GetObjectAsync("v", "k", default))!.VersionId);

        var marker = Marker("v", "k", "m1");
        Assert.Equal("a3", (await store.CommitObjectAsync(marker, Now, default))!.VersionId);
        Assert.Null(await store.GetObjectAsync("v", "k", default));
        Assert.Empty(await store.ListObjectsAsync("v", "", null, 10, default));
        Assert.Equal(["k m1 latest marker", "k a3", "k a2", "k a1"], Describe(await store.ListObjectVersionsAsync("v", "", null, 10, default)));
        Assert.True((await store.GetObjectVersionAsync("v", "k", "m1", default))!.IsDeleteMarker);

        // Removing the marker brings the newest version back; removing the current version promotes the next.
        Assert.True((await store.DeleteObjectVersionAsync("v", "k", "m1", Now, default))!.IsDeleteMarker);
        Assert.Equal("a3", (await store.GetObjectAsync("v", "k", default))!.VersionId);
        Assert.Equal("a3", (await store.DeleteObjectVersionAsync("v", "k", "a3", Now, default))!.VersionId);
        Assert.Equal("a2", (await store.GetObjectAsync("v", "k", default))!.VersionId);
        Assert.Equal([v3.Segments[0].Id], (await store.GetDueReclaimsAsync(Now, 10, default)).Select(r => r.Id));
        await store.DeleteObjectVersionAsync("v", "k", "a1", Now, default);
        Assert.Null(await store.DeleteObjectVersionAsync("v", "k", "a1", Now, default));
        Assert.Equal(["k a2 latest"], Describe(await store.ListObjectVersionsAsync("v", "", null, 10, default)));

        // A bucket holding only a delete marker is not empty.
        await store.CommitObjectAsync(Marker("v", "k", "m2"), Now, default);
        Assert.Empty(await store.ListObjectsAsync("v", "", null, 10, default));
        Assert.Equal(BucketDeleteResult.NotEmpty, await store.DeleteBucketAsync("v", default));
        await store.DeleteObjectVersionAsync("v", "k", "m2", Now, default);
        Assert.Equal("a2", (await store.GetObjectAsync("v", "k", default))!.VersionId);
        await store.DeleteObjectVersionAsync("v", "k", "a2", Now, default);
        Assert.Equal(BucketDeleteResult.Deleted, await store.DeleteBucketAsync("v", default));
    }

    [Fact]
    public async Task An_object_from_before_versioning_is_kept_as_the_null_version_by_the_first_overwrite()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("late", Now), default);
        var old = Object("late", "k");
        await store.CommitObjectAsync(old, Now, default);
        Assert.True(await store.SetBucketDocumentAsync("late", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default));

        var replaced = await store.CommitObjectAsync(Version("late", "k", "b1"), Now, default);
        Assert.Equal((old.ETag, (string?)null), (replaced!.ETag, replaced.VersionId));
        Assert.Equal(["k b1 latest", "k null"], Describe(await store.ListObjectVersionsAsync("late", "", null, 10, default)));
        Assert.Equal(old.ETag, (await store.GetObjectVersionAsync("late", "k", null, default))!.ETag);
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));
    }

    [Fact]
    public async Task A_write_planned_for_another_versioning_state_is_refused_and_changes_nothing()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("plain", Now), default);
        Assert.Equal(BucketVersioning.Unversioned, (await store.GetBucketAsync("plain", default))!.Versioning);
        var refused = await Assert.ThrowsAsync<VersioningChangedException>(() => store.CommitObjectAsync(Version("plain", "k", "x1"), Now, default));
        Assert.Equal(BucketVersioning.Unversioned, refused.Actual);
        await Assert.ThrowsAsync<VersioningChangedException>(() => store.CommitObjectAsync(Marker("plain", "k", null), Now, default));

        await VersionedBucketAsync(store, "kept", BucketVersioning.Enabled);
        await store.CommitObjectAsync(Version("kept", "k", "x1"), Now, default);
        refused = await Assert.ThrowsAsync<VersioningChangedException>(() => store.CommitObjectAsync(Object("kept", "k"), Now, default));
        Assert.Equal(BucketVersioning.Enabled, refused.Actual);
        await Assert.ThrowsAsync<VersioningChangedException>(() => store.DeleteObjectAsync("kept", "k", Now, default));
        await Assert.ThrowsAsync<VersioningChangedException>(() => store.CommitObjectAsync(Marker("kept", "k", null), Now, default));

        Assert.Null(await store.GetObjectAsync("plain", "k", default));
        Assert.Equal(["k x1 latest"], Describe(await store.ListObjectVersionsAsync("kept", "", null, 10, default)));
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));
    }

    [Fact]
    public async Task Suspended_writes_replace_the_null_version_wherever_it_is_and_keep_the_others()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("s", Now), default);
        var original = Object("s", "k");
        await store.CommitObjectAsync(original, Now, default);
        await store.SetBucketDocumentAsync("s", VersioningDocument.Name, "Enabled", default);
        await store.CommitObjectAsync(Version("s", "k", "e1"), Now, default);
        Assert.Equal(["k e1 latest", "k null"], Describe(await store.ListObjectVersionsAsync("s", "", null, 10, default)));

        await store.SetBucketDocumentAsync("s", VersioningDocument.Name, "Suspended", default);
        Assert.Equal(BucketVersioning.Suspended, (await store.GetBucketAsync("s", default))!.Versioning);
        var suspended = Object("s", "k");
        Assert.Equal("e1", (await store.CommitObjectAsync(suspended, Now, default))!.VersionId);
        Assert.Equal(["k null latest", "k e1"], Describe(await store.ListObjectVersionsAsync("s", "", null, 10, default)));
        Assert.Equal([original.Segments[0].Id], (await store.GetDueReclaimsAsync(Now, 10, default)).Select(r => r.Id));

        // The current null version is replaced in place; a delete marker in a suspended bucket is the null version too.
        await store.CommitObjectAsync(Object("s", "k"), Now, default);
        await store.CommitObjectAsync(Marker("s", "k", null), Now, default);
        Assert.Equal(["k null latest marker", "k e1"], Describe(await store.ListObjectVersionsAsync("s", "", null, 10, default)));
        Assert.Equal(3, (await store.GetDueReclaimsAsync(Now, 10, default)).Count);
        Assert.Null(await store.GetObjectAsync("s", "k", default));

        // A null version written over the marker replaces it, and the listing is as before the marker.
        await store.CommitObjectAsync(Object("s", "k"), Now, default);
        Assert.Equal(["k null latest", "k e1"], Describe(await store.ListObjectVersionsAsync("s", "", null, 10, default)));
    }

    [Fact]
    public async Task Version_listings_page_through_many_keys_and_versions_in_key_order_newest_first()
    {
        var store = await CreateStoreAsync();
        await VersionedBucketAsync(store, "p", BucketVersioning.Enabled);
        var expected = new List<string>();
        foreach (var key in new[] { "a", "a/b", "b", "é", "😀" })
        {
            var ids = Enumerable.Range(0, 12).Select(i => $"{key.Length}{i:d2}").ToArray();
            foreach (var id in ids)
            {
                await store.CommitObjectAsync(Version("p", key, id), Now, default);
            }

            if (key == "b")
            {
                await store.CommitObjectAsync(Marker("p", key, "bm"), Now, default);
                expected.Add("b bm latest marker");
                expected.AddRange(ids.Reverse().Select(id => $"b {id}"));
            }
            else
            {
                expected.AddRange(ids.Reverse().Select((id, i) => i == 0 ? $"{key} {id} latest" : $"{key} {id}"));
            }
        }

        foreach (var limit in new[] { 1, 7, 12, 13, 1000 })
        {
            var listed = new List<string>();
            VersionCursor? cursor = null;
            while (true)
            {
                var page = await store.ListObjectVersionsAsync("p", "", cursor, limit, default);
                Assert.True(page.Count <= limit);
                listed.AddRange(Describe(page));
                if (page.Count < limit)
                {
                    break;
                }

                cursor = new VersionCursor(page[^1].Record.Key, AfterAllVersions: false, page[^1].Record.VersionId);
            }

            Assert.Equal(expected, listed);
        }

        Assert.Equal(expected.Where(e => e.StartsWith("a/", StringComparison.Ordinal)), Describe(await store.ListObjectVersionsAsync("p", "a/", null, 100, default)));
        Assert.Equal(expected.SkipWhile(e => !e.StartsWith("b ", StringComparison.Ordinal)), Describe(await store.ListObjectVersionsAsync("p", "", new VersionCursor("a/b", AfterAllVersions: true), 100, default)));
        Assert.Equal(expected.SkipWhile(e => !e.StartsWith("a 110", StringComparison.Ordinal)).Skip(1).Take(3),
            Describe(await store.ListObjectVersionsAsync("p", "", new VersionCursor("a", AfterAllVersions: false, "110"), 3, default)));

        // A cursor whose version is gone (removed since it was listed) lists its key again from the current version: it
        // may repeat, it never skips (removing a current version promotes the next one).
        await store.DeleteObjectVersionAsync("p", "a", "110", Now, default);
        Assert.Equal(["a 111 latest", "a 109", "a 108"], Describe(await store.ListObjectVersionsAsync("p", "", new VersionCursor("a", AfterAllVersions: false, "110"), 3, default)));
        Assert.Equal(expected.Where(e => e.StartsWith("b ", StringComparison.Ordinal)).Take(2),
            Describe(await store.ListObjectVersionsAsync("p", "b", new VersionCursor("a", AfterAllVersions: false, "110"), 2, default)));
        Assert.Equal(expected.SkipWhile(e => !e.StartsWith("a 110", StringComparison.Ordinal)).Skip(1).Take(3),
            Describe(await store.ListObjectVersionsAsync("p", "", new VersionCursor("a", AfterAllVersions: false, "111"), 3, default)));

        // An unversioned bucket lists each object once, as its latest null version.
        await store.CreateBucketAsync(new BucketRecord("plain", Now), default);
        await store.CommitObjectAsync(Object("plain", "x"), Now, default);
        Assert.Equal(["x null latest"], Describe(await store.ListObjectVersionsAsync("plain", "", null, 10, default)));
    }

    [Fact]
    public async Task Tags_part_moves_and_inline_bytes_reach_noncurrent_versions()
    {
        var store = await CreateStoreAsync();
        await VersionedBucketAsync(store, "n", BucketVersioning.Enabled);
        var bytes = TestData.Bytes(64, 5);
        var small = Version("n", "k", "i1") with { Segments = [], Inline = bytes, Size = bytes.Length };
        var large = Version("n", "k", "s2", size: 6000);
        await store.CommitObjectAsync(small, Now, default);
        await store.CommitObjectAsync(large, Now, default);
        await store.CommitObjectAsync(Version("n", "k", "c3"), Now, default);

        Assert.Equal(bytes, (await store.GetObjectVersionAsync("n", "k", "i1", default))!.Inline);
        var tags = new Dictionary<string, string> { ["t"] = "1" };
        Assert.Equal(tags, (await store.SetObjectTagsAsync("n", "k", "s2", tags, default))!.Attributes.Tags);
        Assert.Equal(tags, (await store.GetObjectVersionAsync("n", "k", "s2", default))!.Attributes.Tags);
        Assert.Null((await store.GetObjectAsync("n", "k", default))!.Attributes.Tags);
        Assert.Null(await store.SetObjectTagsAsync("n", "k", "gone", tags, default));

        var segment = large.Segments[0];
        Assert.True(await store.ReplacePartAsync(new PartMove("n", "k", segment.Id, 2, "node3", "node9", "s2"), Now, default));
        Assert.Equal("node9", (await store.GetObjectVersionAsync("n", "k", "s2", default))!.Segments[0].Nodes[2]);
        Assert.Equal(tags, (await store.GetObjectVersionAsync("n", "k", "s2", default))!.Attributes.Tags);
        Assert.Equal(1, (await store.GetNodeUsageAsync(default))["node9"].PartCount);
        Assert.False(await store.ReplacePartAsync(new PartMove("n", "k", segment.Id, 2, "node3", "node10", "s2"), Now, default));

        // Promoted back to current, the inline version keeps its bytes.
        await store.DeleteObjectVersionAsync("n", "k", "c3", Now, default);
        await store.DeleteObjectVersionAsync("n", "k", "s2", Now, default);
        Assert.Equal(bytes, (await store.GetObjectAsync("n", "k", default))!.Inline);
    }

    private static async Task VersionedBucketAsync(IMetadataStore store, string bucket, BucketVersioning state)
    {
        await store.CreateBucketAsync(new BucketRecord(bucket, Now), default);
        Assert.True(await store.SetBucketDocumentAsync(bucket, VersioningDocument.Name, state.ToString(), default));
    }

    private static ObjectRecord Version(string bucket, string key, string versionId, long size = 100) => Object(bucket, key, size) with { VersionId = versionId };

    private static ObjectRecord Marker(string bucket, string key, string? versionId) =>
        new(bucket, key, 0, string.Empty, Now, ObjectAttributes.None, [], VersionId: versionId, IsDeleteMarker: true);

    private static string[] Describe(IReadOnlyList<ObjectVersion> versions) =>
        [.. versions.Select(v => $"{v.Record.Key} {v.Record.VersionIdText}{(v.IsLatest ? " latest" : "")}{(v.Record.IsDeleteMarker ? " marker" : "")}")];
}
