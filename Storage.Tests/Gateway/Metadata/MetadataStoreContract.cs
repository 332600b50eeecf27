using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata;

/// <summary>
/// The behaviour every metadata store must have. Each implementation derives a test class that only says how
/// to create a fresh, empty store (SQLite now; Redis reuses these tests).
/// </summary>
public abstract partial class MetadataStoreContract
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    protected abstract Task<IMetadataStore> CreateStoreAsync();

    [Fact]
    public async Task Buckets_are_created_once_listed_in_order_and_deleted_only_when_empty()
    {
        var store = await CreateStoreAsync();
        Assert.True(await store.CreateBucketAsync(new BucketRecord("beta", Now), default));
        Assert.True(await store.CreateBucketAsync(new BucketRecord("alpha", Now), default));
        Assert.False(await store.CreateBucketAsync(new BucketRecord("alpha", Now.AddDays(1)), default));
        Assert.Equal(["alpha", "beta"], (await store.ListBucketsAsync(default)).Select(b => b.Name));
        Assert.Equal(Now, (await store.GetBucketAsync("alpha", default))!.CreatedAt);

        await store.CommitObjectAsync(Object("alpha", "k"), Now, default);
        Assert.Equal(BucketDeleteResult.NotEmpty, await store.DeleteBucketAsync("alpha", default));
        await store.DeleteObjectAsync("alpha", "k", Now, default);
        Assert.Equal(BucketDeleteResult.Deleted, await store.DeleteBucketAsync("alpha", default));
        Assert.Equal(BucketDeleteResult.NotFound, await store.DeleteBucketAsync("alpha", default));
        Assert.Null(await store.GetBucketAsync("alpha", default));
    }

    [Fact]
    public async Task An_inline_object_round_trips_its_bytes_and_is_listed_without_them()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var bytes = TestData.Bytes(4096, 9);
        var inline = Object("b", "small", size: bytes.Length) with { Segments = [], Inline = bytes };
        Assert.Null(await store.CommitObjectAsync(inline, Now, default));

        Assert.Equal(bytes, (await store.GetObjectAsync("b", "small", default))!.Inline);
        var listed = Assert.Single(await store.ListObjectsAsync("b", "", null, 10, default));
        Assert.Equal((inline.Key, inline.Size, inline.ETag), (listed.Key, listed.Size, listed.ETag));
        Assert.Null(listed.Inline);
        Assert.Empty(await store.GetNodeUsageAsync(default));

        // An inline version replaced by one on the nodes leaves nothing to reclaim.
        Assert.Equal(inline.ETag, (await store.CommitObjectAsync(Object("b", "small", size: 10), Now, default))!.ETag);
        Assert.Null((await store.GetObjectAsync("b", "small", default))!.Inline);
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));
    }

    [Fact]
    public async Task Tags_replace_only_the_tags_of_the_current_version()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var bytes = TestData.Bytes(100, 3);
        await store.CommitObjectAsync(Object("b", "small", size: bytes.Length) with { Segments = [], Inline = bytes }, Now, default);
        var large = Object("b", "large");
        await store.CommitObjectAsync(large, Now, default);
        var usage = await store.GetNodeUsageAsync(default);
        Assert.Null((await store.GetObjectAsync("b", "large", default))!.Attributes.Tags); // a store that keeps records must forget this one

        var tags = new Dictionary<string, string> { ["team"] = "ops", ["empty"] = "" };
        Assert.Equal(tags, (await store.SetObjectTagsAsync("b", "small", tags, default))!.Attributes.Tags);
        await store.SetObjectTagsAsync("b", "large", tags, default);

        var small = (await store.GetObjectAsync("b", "small", default))!;
        Assert.Equal(tags, small.Attributes.Tags);
        Assert.Equal(bytes, small.Inline);
        var tagged = (await store.GetObjectAsync("b", "large", default))!;
        Assert.Equal(tags, tagged.Attributes.Tags);
        Assert.Equal((large.ETag, large.LastModified, large.Segments[0].Id), (tagged.ETag, tagged.LastModified, tagged.Segments[0].Id));
        Assert.Equal(tags, (await store.ListObjectsAsync("b", "l", null, 10, default)).Single().Attributes.Tags);
        Assert.Equal(usage, await store.GetNodeUsageAsync(default));
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));

        await store.SetObjectTagsAsync("b", "small", null, default);
        Assert.Null((await store.GetObjectAsync("b", "small", default))!.Attributes.Tags);
        Assert.Null(await store.SetObjectTagsAsync("b", "missing", tags, default));
        Assert.Null(await store.GetObjectAsync("b", "missing", default));
        Assert.Null(await store.SetObjectTagsAsync("nope", "small", tags, default));
    }

    [Fact]
    public async Task Bucket_documents_are_set_replaced_removed_and_go_with_their_bucket()
    {
        var store = await CreateStoreAsync();
        Assert.False(await store.SetBucketDocumentAsync("b", "lifecycle", "{}", default));
        Assert.Null(await store.GetBucketDocumentAsync("b", "lifecycle", default));

        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        await store.CreateBucketAsync(new BucketRecord("other", Now), default);
        Assert.True(await store.SetBucketDocumentAsync("b", "lifecycle", "{\"rules\":1}", default));
        Assert.True(await store.SetBucketDocumentAsync("b", "lifecycle.position", "key-1", default));
        Assert.True(await store.SetBucketDocumentAsync("b", "lifecycle", "{\"rules\":2}", default));
        Assert.Equal("{\"rules\":2}", await store.GetBucketDocumentAsync("b", "lifecycle", default));
        Assert.Equal("key-1", await store.GetBucketDocumentAsync("b", "lifecycle.position", default));
        Assert.Null(await store.GetBucketDocumentAsync("other", "lifecycle", default));

        Assert.True(await store.SetBucketDocumentAsync("b", "lifecycle.position", null, default));
        Assert.Null(await store.GetBucketDocumentAsync("b", "lifecycle.position", default));

        // A bucket made again under the same name starts without the old one's documents.
        Assert.Equal(BucketDeleteResult.Deleted, await store.DeleteBucketAsync("b", default));
        Assert.Null(await store.GetBucketDocumentAsync("b", "lifecycle", default));
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        Assert.Null(await store.GetBucketDocumentAsync("b", "lifecycle", default));
    }

    [Fact]
    public async Task A_delete_of_one_version_spares_a_later_write_of_the_key_with_the_same_bytes()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var first = Object("b", "k");
        await store.CommitObjectAsync(first, Now, default);
        var listed = (await store.ListObjectsAsync("b", "", null, 10, default)).Single();
        var rewritten = first with { LastModified = first.LastModified.AddTicks(1), Segments = [first.Segments[0] with { Id = "seg-rewritten" }] };
        await store.CommitObjectAsync(rewritten, Now, default);

        var failed = await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.DeleteObjectAsync("b", "k", Now, WriteCondition.CurrentVersion(listed), default));
        Assert.True(failed.KeyExists);
        Assert.Equal("seg-rewritten", (await store.GetObjectAsync("b", "k", default))!.Segments[0].Id);

        var current = (await store.ListObjectsAsync("b", "", null, 10, default)).Single();
        Assert.NotNull(await store.DeleteObjectAsync("b", "k", Now, WriteCondition.CurrentVersion(current), default));
        Assert.Null(await store.GetObjectAsync("b", "k", default));
        Assert.False((await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.DeleteObjectAsync("b", "k", Now, WriteCondition.CurrentVersion(current), default))).KeyExists);
    }

    [Fact]
    public async Task Committing_to_a_missing_bucket_fails_and_stores_nothing()
    {
        var store = await CreateStoreAsync();
        await Assert.ThrowsAsync<BucketNotFoundException>(() => store.CommitObjectAsync(Object("nope", "k"), Now, default));
        Assert.Null(await store.GetObjectAsync("nope", "k", default));
        Assert.Empty(await store.GetNodeUsageAsync(default));
    }

    [Fact]
    public async Task A_commit_round_trips_every_field()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var record = Object("b", "dir/ключ 🙂", size: 1234) with
        {
            Attributes = new ObjectAttributes("text/plain", "report.txt", new Dictionary<string, string> { ["owner"] = "ops" }),
        };
        Assert.Null(await store.CommitObjectAsync(record, Now, default));
        var stored = await store.GetObjectAsync("b", "dir/ключ 🙂", default);
        Assert.NotNull(stored);
        Assert.Equal(record.ETag, stored.ETag);
        Assert.Equal(record.Size, stored.Size);
        Assert.Equal(record.LastModified, stored.LastModified);
        Assert.Equal("report.txt", stored.Attributes.FileName);
        Assert.Equal("ops", stored.Attributes.UserMetadata!["owner"]);
        Assert.Equal(record.Segments[0], stored.Segments[0] with { Nodes = record.Segments[0].Nodes });
        Assert.Equal(record.Segments[0].Nodes, stored.Segments[0].Nodes);
    }

    [Fact]
    public async Task A_conditional_commit_applies_only_when_the_version_it_replaces_satisfies_it()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var first = Object("b", "lock");
        Assert.Null(await store.CommitObjectAsync(first, Now, new WriteCondition(MustNotExist: true, null), default));

        var taken = await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.CommitObjectAsync(Object("b", "lock"), Now, new WriteCondition(true, null), default));
        Assert.True(taken.KeyExists);
        var stale = await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.CommitObjectAsync(Object("b", "lock"), Now, new WriteCondition(false, "0123"), default));
        Assert.True(stale.KeyExists);
        var gone = await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.CommitObjectAsync(Object("b", "other"), Now, new WriteCondition(false, first.ETag), default));
        Assert.False(gone.KeyExists);
        Assert.Equal(first.ETag, (await store.GetObjectAsync("b", "lock", default))!.ETag);
        Assert.Null(await store.GetObjectAsync("b", "other", default));

        var second = Object("b", "lock");
        Assert.Equal(first.ETag, (await store.CommitObjectAsync(second, Now, new WriteCondition(false, first.ETag), default))!.ETag);
        Assert.Equal(second.ETag, (await store.GetObjectAsync("b", "lock", default))!.ETag);

        await store.CreateBucketAsync(new BucketRecord(".parts.b", Now), default);
        var part = Object(".parts.b", "u/1");
        await store.CommitObjectAsync(part, Now, default);
        var assembled = Object("b", "lock") with { Segments = [part.Segments[0]] };
        await Assert.ThrowsAsync<WriteConditionFailedException>(() => store.CommitAssembledObjectAsync(assembled, ".parts.b", [new AssembledSource("u/1", part.Segments[0].Id)], Now, new WriteCondition(true, null), default));
        Assert.NotNull(await store.GetObjectAsync(".parts.b", "u/1", default));
        Assert.True(await store.CommitAssembledObjectAsync(assembled, ".parts.b", [new AssembledSource("u/1", part.Segments[0].Id)], Now, new WriteCondition(false, second.ETag), default));
        Assert.Equal(assembled.ETag, (await store.GetObjectAsync("b", "lock", default))!.ETag);
    }

    [Fact]
    public async Task A_record_read_before_each_kind_of_change_is_read_afresh_after_it()
    {
        // Every read here comes right after the same key was read, so a store that keeps records it has read (SQLite
        // does) must have forgotten them at each change.
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        await store.CreateBucketAsync(new BucketRecord(".parts.b", Now), default);
        async Task<ObjectRecord?> ReadTwiceAsync(string bucket, string key)
        {
            await store.GetObjectAsync(bucket, key, default);
            return await store.GetObjectAsync(bucket, key, default);
        }

        Assert.Null(await ReadTwiceAsync("b", "k"));
        var first = Object("b", "k", size: 6000);
        await store.CommitObjectAsync(first, Now, default);
        Assert.Equal(first.ETag, (await ReadTwiceAsync("b", "k"))!.ETag);

        var second = Object("b", "k", size: 6000);
        await store.CommitObjectAsync(second, Now, default);
        Assert.Equal(second.ETag, (await ReadTwiceAsync("b", "k"))!.ETag);

        Assert.True(await store.ReplacePartAsync(new PartMove("b", "k", second.Segments[0].Id, 3, "node4", "node9"), Now, default));
        Assert.Equal("node9", (await ReadTwiceAsync("b", "k"))!.Segments[0].Nodes[3]);

        var part = Object(".parts.b", "u/1");
        await store.CommitObjectAsync(part, Now, default);
        Assert.NotNull(await ReadTwiceAsync(".parts.b", "u/1"));
        var assembled = Object("b", "k") with { Segments = [part.Segments[0]] };
        Assert.True(await store.CommitAssembledObjectAsync(assembled, ".parts.b", [new AssembledSource("u/1", part.Segments[0].Id)], Now, default));
        Assert.Null(await store.GetObjectAsync(".parts.b", "u/1", default));
        Assert.Equal(assembled.ETag, (await ReadTwiceAsync("b", "k"))!.ETag);

        await store.DeleteObjectAsync("b", "k", Now, default);
        Assert.Null(await store.GetObjectAsync("b", "k", default));
    }

    [Fact]
    public async Task An_assembled_commit_takes_over_its_sources_segments_without_reclaiming_or_recounting_them()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        await store.CreateBucketAsync(new BucketRecord(".parts.b", Now), default);
        var part1 = Object(".parts.b", "u/1");
        var part2 = Object(".parts.b", "u/2");
        var empty = Object(".parts.b", "u/3") with { Size = 0, Segments = [] };
        foreach (var part in new[] { part1, part2, empty })
        {
            await store.CommitObjectAsync(part, Now, default);
        }

        var usage = await store.GetNodeUsageAsync(default);
        var old = Object("b", "k");
        await store.CommitObjectAsync(old, Now, default);
        var assembled = Object("b", "k") with { Segments = [part1.Segments[0], part2.Segments[0]], Checksum = new ObjectChecksum("CRC32", "AAAAAA==-2", ObjectChecksum.Composite) };
        AssembledSource[] sources = [new("u/1", part1.Segments[0].Id), new("u/2", part2.Segments[0].Id), new("u/3", null)];

        Assert.False(await store.CommitAssembledObjectAsync(assembled, ".parts.b", [new("u/1", "another-segment")], Now, default));
        Assert.False(await store.CommitAssembledObjectAsync(assembled, ".parts.b", [new("u/9", null)], Now, default));
        Assert.Equal(old.Segments[0].Id, (await store.GetObjectAsync("b", "k", default))!.Segments[0].Id);

        Assert.True(await store.CommitAssembledObjectAsync(assembled, ".parts.b", sources, Now.AddMinutes(5), default));
        var stored = await store.GetObjectAsync("b", "k", default);
        Assert.Equal([part1.Segments[0].Id, part2.Segments[0].Id], stored!.Segments.Select(s => s.Id));
        Assert.Equal(assembled.Checksum, stored.Checksum);
        Assert.Empty(await store.ListObjectsAsync(".parts.b", "", null, 10, default));
        var reclaim = Assert.Single(await store.GetDueReclaimsAsync(Now.AddMinutes(5), 10, default));
        Assert.Equal(old.Segments[0].Id, reclaim.Id);

        // The parts were counted when they were committed; assembling them adds nothing (only the old object's parts remain extra).
        var after = await store.GetNodeUsageAsync(default);
        var oldBytes = old.Segments.Parts().GroupBy(p => p.NodeId).ToDictionary(g => g.Key, g => g.Sum(p => p.Length));
        foreach (var (node, used) in after)
        {
            Assert.Equal(usage.GetValueOrDefault(node)?.BytesUsed ?? 0, used.BytesUsed - oldBytes.GetValueOrDefault(node));
        }

        await Assert.ThrowsAsync<BucketNotFoundException>(() => store.CommitAssembledObjectAsync(assembled with { Bucket = "nope" }, ".parts.nope", [], Now, default));
    }

    [Fact]
    public async Task An_overwrite_returns_the_old_version_and_queues_its_parts_after_the_grace_period()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var first = Object("b", "k");
        var second = Object("b", "k");
        await store.CommitObjectAsync(first, Now, default);
        var replaced = await store.CommitObjectAsync(second, Now.AddMinutes(5), default);

        Assert.Equal(first.Segments[0].Id, replaced!.Segments[0].Id);
        Assert.Equal(second.Segments[0].Id, (await store.GetObjectAsync("b", "k", default))!.Segments[0].Id);
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddMinutes(4), 10, default));
        var due = Assert.Single(await store.GetDueReclaimsAsync(Now.AddMinutes(5), 10, default));
        Assert.True(due.Accounted);
        Assert.Equal(first.Segments[0].Id, due.Id);
        Assert.Equal(first.Segments.Parts(), due.Parts);
    }

    [Fact]
    public async Task Fill_counters_follow_commits_and_reclaims_exactly_once()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var record = Object("b", "k", size: 6000);
        var perPart = record.Segments.Parts().First().Length;
        await store.CommitObjectAsync(record, Now, default);
        var usage = await store.GetNodeUsageAsync(default);
        Assert.Equal(8, usage.Count);
        Assert.All(usage.Values, u => Assert.Equal((perPart, 1), (u.BytesUsed, u.PartCount)));

        await store.DeleteObjectAsync("b", "k", Now, default);
        var entry = Assert.Single(await store.GetDueReclaimsAsync(Now, 10, default));
        await store.CompleteReclaimAsync(entry, default);
        await store.CompleteReclaimAsync(entry, default);
        Assert.All((await store.GetNodeUsageAsync(default)).Values, u => Assert.Equal((0, 0), (u.BytesUsed, u.PartCount)));
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddYears(1), 10, default));
    }

    [Fact]
    public async Task Write_intents_become_due_when_abandoned_and_vanish_when_committed()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var committed = Object("b", "done");
        var abandoned = Object("b", "crashed");
        await store.RegisterWriteAsync(ReclaimEntry.ForSegments("b", committed.Segments, Now.AddHours(1), accounted: false), default);
        await store.RegisterWriteAsync(ReclaimEntry.ForSegments("b", abandoned.Segments, Now.AddHours(1), accounted: false), default);
        await store.CommitObjectAsync(committed, Now, default);

        Assert.Empty(await store.GetDueReclaimsAsync(Now, 10, default));
        var due = Assert.Single(await store.GetDueReclaimsAsync(Now.AddHours(1), 10, default));
        Assert.Equal(abandoned.Segments[0].Id, due.Id);
        Assert.False(due.Accounted);

        // Renewing pushes the deadline out.
        await store.RegisterWriteAsync(due with { Due = Now.AddHours(2) }, default);
        Assert.Empty(await store.GetDueReclaimsAsync(Now.AddHours(1), 10, default));
    }

    [Fact]
    public async Task Listing_follows_utf8_byte_order_with_prefix_start_after_and_limit()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        await store.CreateBucketAsync(new BucketRecord("other", Now), default);
        string[] keys = ["a", "a/1", "a/2", "a/3", "ab", "b", "é", "\uFFFD", "😀", "Z"];
        foreach (var key in keys.Reverse())
        {
            await store.CommitObjectAsync(Object("b", key), Now, default);
        }

        await store.CommitObjectAsync(Object("other", "a/0"), Now, default);

        // UTF-8 byte order: "Z" < "a…" < "é" (C3 A9) < U+FFFD (EF BF BD) < "😀" (F0 …), unlike UTF-16 order.
        Assert.Equal(["Z", "a", "a/1", "a/2", "a/3", "ab", "b", "é", "\uFFFD", "😀"], await Keys(store, "", null, 100));
        Assert.Equal(["a/1", "a/2", "a/3"], await Keys(store, "a/", null, 100));
        Assert.Equal(["a/2", "a/3"], await Keys(store, "a/", "a/1", 100));
        Assert.Equal(["a/1", "a/2"], await Keys(store, "a/", null, 2));
        Assert.Equal(["ab", "b"], await Keys(store, "", "a/3", 2));
        Assert.Empty(await Keys(store, "zz", null, 10));
        Assert.Equal(["a/1", "a/2", "a/3"], await Keys(store, "a/", "0", 10));
    }

    [Fact]
    public async Task Nodes_are_added_once_and_listed_in_order_of_arrival()
    {
        var store = await CreateStoreAsync();
        Assert.True(await store.AddNodeAsync(new NodeRecord("node2", "folder", "/srv/2", Now), default));
        Assert.True(await store.AddNodeAsync(new NodeRecord("node1", "folder", "/srv/1", Now.AddSeconds(1)), default));
        Assert.False(await store.AddNodeAsync(new NodeRecord("node2", "folder", "/elsewhere", Now.AddSeconds(2)), default));
        var nodes = await store.ListNodesAsync(default);
        Assert.Equal(["node2", "node1"], nodes.Select(n => n.Id));
        Assert.Equal("/srv/2", nodes[0].Address);
    }

    [Fact]
    public async Task Concurrent_overwrites_leave_one_complete_version_and_consistent_counters()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var versions = Enumerable.Range(0, 24).Select(_ => Object("b", "hot", size: 6000)).ToArray();
        await Task.WhenAll(versions.Select(v => Task.Run(() => store.CommitObjectAsync(v, Now, default))));

        var winner = await store.GetObjectAsync("b", "hot", default);
        Assert.Contains(versions, v => v.Segments[0].Id == winner!.Segments[0].Id);
        var pending = await store.GetDueReclaimsAsync(Now, 100, default);
        Assert.Equal(versions.Length - 1, pending.Count);
        Assert.DoesNotContain(pending, p => p.Id == winner!.Segments[0].Id);
        var perPart = versions[0].Segments.Parts().First().Length;
        Assert.All((await store.GetNodeUsageAsync(default)).Values, u => Assert.Equal(versions.Length * perPart, u.BytesUsed));
    }

    [Fact]
    public async Task A_failing_write_does_not_disturb_concurrent_writes()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var writes = Enumerable.Range(0, 40)
            .Select(i => Task.Run(() => store.CommitObjectAsync(Object(i % 4 == 0 ? "missing" : "b", $"k{i}"), Now, default)))
            .ToArray();
        var outcomes = await Task.WhenAll(writes.Select(async w =>
        {
            try
            {
                await w;
                return "ok";
            }
            catch (BucketNotFoundException)
            {
                return "refused";
            }
        }));

        Assert.Equal(10, outcomes.Count(o => o == "refused"));
        Assert.Equal(30, (await store.ListObjectsAsync("b", "", null, 100, default)).Count);
        Assert.Equal(30 * 8, (await store.GetNodeUsageAsync(default)).Values.Sum(u => u.PartCount));
    }

    [Fact]
    public async Task Replacing_a_part_moves_it_accounts_the_copy_and_reclaims_the_original_later()
    {
        var store = await CreateStoreAsync();
        await store.CreateBucketAsync(new BucketRecord("b", Now), default);
        var record = Object("b", "k", size: 6000);
        await store.CommitObjectAsync(record, Now, default);
        var segment = record.Segments[0];
        var partLength = segment.Part(3).Length;

        Assert.True(await store.ReplacePartAsync(new PartMove("b", "k", segment.Id, 3, "node4", "node9"), Now.AddMinutes(1), default));
        var moved = (await store.GetObjectAsync("b", "k", default))!.Segments[0];
        Assert.Equal(["node1", "node2", "node3", "node9", "node5", "node6", "node7", "node8"], moved.Nodes);
        var usage = await store.GetNodeUsageAsync(default);
        Assert.Equal((partLength, 1L), (usage["node9"].BytesUsed, usage["node9"].PartCount));
        Assert.Equal(partLength, usage["node4"].BytesUsed);

        // A stale move (the part is no longer on node4) changes nothing.
        Assert.False(await store.ReplacePartAsync(new PartMove("b", "k", segment.Id, 3, "node4", "node10"), Now, default));
        Assert.False(await store.ReplacePartAsync(new PartMove("b", "missing", segment.Id, 3, "node9", "node10"), Now, default));

        var reclaim = Assert.Single(await store.GetDueReclaimsAsync(Now.AddMinutes(1), 10, default));
        Assert.Equal([segment.Part(3)], reclaim.Parts);
        await store.CompleteReclaimAsync(reclaim, default);
        usage = await store.GetNodeUsageAsync(default);
        Assert.Equal((0L, 0L), (usage["node4"].BytesUsed, usage["node4"].PartCount));

        // After an overwrite the old segment is gone: moving its part is refused.
        await store.CommitObjectAsync(Object("b", "k"), Now, default);
        Assert.False(await store.ReplacePartAsync(new PartMove("b", "k", segment.Id, 0, "node1", "node10"), Now, default));
    }

    [Fact]
    public async Task A_lease_has_one_holder_until_it_expires()
    {
        var store = await CreateStoreAsync();
        var name = $"lease-{Guid.NewGuid():N}";
        Assert.True(await store.TryAcquireLeaseAsync(name, "gateway-a", TimeSpan.FromMilliseconds(400), default));
        Assert.False(await store.TryAcquireLeaseAsync(name, "gateway-b", TimeSpan.FromSeconds(10), default));
        Assert.True(await store.TryAcquireLeaseAsync(name, "gateway-a", TimeSpan.FromMilliseconds(400), default));
        await Task.Delay(600);
        Assert.True(await store.TryAcquireLeaseAsync(name, "gateway-b", TimeSpan.FromSeconds(10), default));
        Assert.False(await store.TryAcquireLeaseAsync(name, "gateway-a", TimeSpan.FromSeconds(10), default));
    }

    [Fact]
    public async Task A_released_lease_is_free_at_once_but_only_its_holder_can_release_it()
    {
        var store = await CreateStoreAsync();
        var name = $"lease-{Guid.NewGuid():N}";
        Assert.True(await store.TryAcquireLeaseAsync(name, "gateway-a", TimeSpan.FromMinutes(10), default));
        await store.ReleaseLeaseAsync(name, "gateway-b", default);
        Assert.False(await store.TryAcquireLeaseAsync(name, "gateway-b", TimeSpan.FromMinutes(10), default));
        await store.ReleaseLeaseAsync(name, "gateway-a", default);
        Assert.True(await store.TryAcquireLeaseAsync(name, "gateway-b", TimeSpan.FromMinutes(10), default));
    }

    [Fact]
    public async Task A_node_epoch_changes_only_from_the_epoch_expected_and_is_verified_only_while_current()
    {
        var store = await CreateStoreAsync();
        var node = $"node-{Guid.NewGuid():N}"[..20];
        Assert.False((await store.GetNodeEpochsAsync(default)).ContainsKey(node));
        Assert.True(await store.ChangeNodeEpochAsync(node, null, "e1", verified: true, default));
        Assert.False(await store.ChangeNodeEpochAsync(node, null, "other", verified: true, default));
        Assert.True((await store.GetNodeEpochsAsync(default))[node].IsVerified);

        // The node came back empty: a new epoch, not verified until healing has looked at every part.
        Assert.True(await store.ChangeNodeEpochAsync(node, "e1", "e2", verified: false, default));
        Assert.False(await store.ChangeNodeEpochAsync(node, "e1", "e3", verified: false, default));
        Assert.Equal(new NodeEpoch(node, "e2", null), (await store.GetNodeEpochsAsync(default))[node]);
        Assert.False(await store.MarkNodeVerifiedAsync(node, "e1", default));
        Assert.True(await store.MarkNodeVerifiedAsync(node, "e2", default));
        Assert.True((await store.GetNodeEpochsAsync(default))[node].IsVerified);
    }

    private static async Task<string[]> Keys(IMetadataStore store, string prefix, string? after, int limit) =>
        [.. (await store.ListObjectsAsync("b", prefix, after, limit, default)).Select(o => o.Key)];

    private static ObjectRecord Object(string bucket, string key, long size = 100) => TestData.Record(bucket, key, size, Now);
}
