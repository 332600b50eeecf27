using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3.Model;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>The S3 tier against the gateway's S3 API on real Kestrel: sharing, verification, outages, read-only mode.</summary>
public sealed class RemoteTierTests(S3Gateway gateway) : IClassFixture<S3Gateway>, IAsyncLifetime
{
    private readonly TempDirectory _folder = new("cacheprog-remote");
    private readonly string _bucket = $"gocache-{Guid.NewGuid():N}"[..20];

    public async ValueTask InitializeAsync() => await gateway.Client().PutBucketAsync(_bucket);

    public ValueTask DisposeAsync()
    {
        _folder.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_put_on_one_machine_is_a_verified_remote_hit_on_another_then_a_local_one()
    {
        var body = TestData.Bytes(700_000, 41);
        var (action, output) = (RandomNumberGenerator.GetBytes(32), SHA256.HashData(body));
        await using (var first = Cache("a"))
        {
            await PutAsync(first, action, body);
            Assert.True(await first.DrainAsync(TimeSpan.FromSeconds(30), default));
            Assert.Equal(1, first.Stats.Uploads);
        }

        await using var second = Cache("b");
        var hit = await second.GetAsync(7, action, new SessionCounters(), default);
        Assert.False(hit.Miss);
        Assert.Equal(output, hit.OutputID);
        Assert.Equal(body, await File.ReadAllBytesAsync(hit.DiskPath!));
        Assert.StartsWith(Path.Combine(_folder.Path, "b"), hit.DiskPath, StringComparison.Ordinal);
        Assert.Equal(1, second.Stats.RemoteHits);

        var again = await second.GetAsync(8, action, new SessionCounters(), default);
        Assert.Equal(hit.DiskPath, again.DiskPath);
        Assert.Equal(1, second.Stats.RemoteHits);
        Assert.Equal(2, second.Stats.Hits);
    }

    [Fact]
    public async Task A_corrupted_remote_object_is_refused_and_becomes_a_miss()
    {
        var body = TestData.Bytes(50_000, 42);
        var action = RandomNumberGenerator.GetBytes(32);
        await using (var first = Cache("a"))
        {
            await PutAsync(first, action, body);
            await first.DrainAsync(TimeSpan.FromSeconds(30), default);
        }

        var tampered = body.ToArray();
        tampered[100] ^= 1;
        await gateway.Client().PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = Convert.ToHexStringLower(SHA256.HashData(body)) + "-d", InputStream = new MemoryStream(tampered) });

        await using var second = Cache("b");
        Assert.True((await second.GetAsync(1, action, new SessionCounters(), default)).Miss);
        Assert.True(second.Stats.Errors >= 1);
        Assert.Empty(Directory.GetFiles(Path.Combine(_folder.Path, "b"), "*-d"));
    }

    [Fact]
    public async Task A_small_body_travels_in_its_entry_so_a_remote_hit_needs_one_get_and_a_false_one_is_refused()
    {
        var small = TestData.Bytes(RemoteTier.InlineBodyLimit, 46);
        var large = TestData.Bytes(RemoteTier.InlineBodyLimit + 1, 47);
        var (smallAction, largeAction) = (RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32));
        await using (var writer = Cache("a"))
        {
            await PutAsync(writer, smallAction, small);
            await PutAsync(writer, largeAction, large);
            Assert.True(await writer.DrainAsync(TimeSpan.FromSeconds(30), default));
        }

        // The workshop layout as before, both objects there; only the small entry carries its body.
        var smallEntry = await RemoteEntryAsync(smallAction);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(small)), smallEntry.GetProperty("OutputID").GetString());
        Assert.Equal(small.Length, smallEntry.GetProperty("Size").GetInt64());
        Assert.True(smallEntry.GetProperty("TimeNanos").GetInt64() > 0);
        Assert.Equal(small, smallEntry.GetProperty("Body").GetBytesFromBase64());
        Assert.False((await RemoteEntryAsync(largeAction)).TryGetProperty("Body", out _));
        Assert.Equal(4, (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket })).KeyCount);

        // With the body object gone, the small entry alone is a verified hit: no second GET was needed.
        await gateway.Client().DeleteObjectAsync(_bucket, Convert.ToHexStringLower(SHA256.HashData(small)) + "-d");
        await using (var reader = Cache("b"))
        {
            var hit = await reader.GetAsync(1, smallAction, new SessionCounters(), default);
            Assert.False(hit.Miss);
            Assert.Equal(small, await File.ReadAllBytesAsync(hit.DiskPath!));
            Assert.DoesNotContain("Body", await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(_folder.Path, "b"), "*-a.json").Single()), StringComparison.Ordinal);
        }

        // An inline body that is not its OutputID is never kept: the -d object is fetched instead, or, gone, it is a miss.
        var forged = JsonSerializer.Serialize(new { OutputID = Convert.ToHexStringLower(SHA256.HashData(small)), Size = small.Length, TimeNanos = 1, Body = TestData.Bytes(small.Length, 48) });
        await gateway.Client().PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = Convert.ToHexStringLower(smallAction) + "-a.json", ContentBody = forged });
        await using (var victim = Cache("c"))
        {
            Assert.True((await victim.GetAsync(2, smallAction, new SessionCounters(), default)).Miss);
            Assert.True(victim.Stats.Errors >= 1);
            Assert.Empty(Directory.GetFiles(Path.Combine(_folder.Path, "c"), "*-d"));
        }

        await gateway.Client().PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = Convert.ToHexStringLower(SHA256.HashData(small)) + "-d", InputStream = new MemoryStream(small) });
        await using var recovered = Cache("d");
        var fetched = await recovered.GetAsync(3, smallAction, new SessionCounters(), default);
        Assert.False(fetched.Miss);
        Assert.Equal(small, await File.ReadAllBytesAsync(fetched.DiskPath!));
    }

    [Fact]
    public async Task Large_bodies_the_remote_has_are_not_sent_twice_and_read_only_never_writes()
    {
        var body = TestData.Bytes(100_000, 43);
        await using (var writer = Cache("a"))
        {
            await PutAsync(writer, RandomNumberGenerator.GetBytes(32), body);
            await writer.DrainAsync(TimeSpan.FromSeconds(30), default);
            await PutAsync(writer, RandomNumberGenerator.GetBytes(32), body);
            await writer.DrainAsync(TimeSpan.FromSeconds(30), default);
            Assert.Contains("(1 already remote", writer.Stats.Summary(), StringComparison.Ordinal);
        }

        var before = (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket })).KeyCount;
        await using (var reader = Cache("r", readOnly: true))
        {
            await PutAsync(reader, RandomNumberGenerator.GetBytes(32), TestData.Bytes(1000, 44));
            await reader.DrainAsync(TimeSpan.FromSeconds(5), default);
            Assert.Equal(0, reader.Stats.Uploads);
        }

        Assert.Equal(before, (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket })).KeyCount);
    }

    [Fact]
    public async Task A_remote_that_is_down_costs_at_most_a_timeout_then_nothing()
    {
        var options = Options("down") with { Endpoint = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}"), RemoteTimeout = TimeSpan.FromSeconds(1) };
        await using var cache = new CacheService(options, TextWriter.Null);
        var body = TestData.Bytes(3000, 45);
        var stored = await PutAsync(cache, RandomNumberGenerator.GetBytes(32), body);
        Assert.Null(stored.Err);

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            Assert.True((await cache.GetAsync(i, RandomNumberGenerator.GetBytes(32), new SessionCounters(), default)).Miss);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"20 gets took {clock.Elapsed}");
        Assert.True(cache.Stats.Errors >= 1);
    }

    [Fact]
    public async Task A_build_that_looked_remote_publishes_its_manifest_and_the_next_empty_tier_prefetches_what_it_names()
    {
        // Small bodies (inline in their entries) and large ones (their own -d objects).
        var bodies = Enumerable.Range(0, 24).Select(i => TestData.Bytes(i % 3 == 0 ? 200_000 + i : 500 + i, 60 + i)).ToArray();
        var actions = bodies.Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        await using (var first = Cache("a"))
        {
            // As a build: each get misses, then the go command puts the output.
            var session = first.SessionStarted();
            for (var i = 0; i < actions.Length; i++)
            {
                Assert.True((await first.GetAsync(i, actions[i], session, default)).Miss);
                await PutAsync(first, actions[i], bodies[i], session);
            }

            // Uploads hold off while the build runs; the manifest waits for them, so when it is there, so is every entry.
            await first.CloseAsync(session, default);
            await Poll.UntilAsync(async () => (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = BuildManifest.Folder })).S3Objects?.Count == 1, TimeSpan.FromSeconds(20), "the manifest published");
            var entries = (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket })).S3Objects.Count(o => o.Key.EndsWith("-a.json", StringComparison.Ordinal));
            Assert.Equal(actions.Length, entries);
        }

        // A tier whose first get hits does not prefetch, even when a later one misses (an edited package).
        await using (var warm = Cache("warm"))
        {
            var known = RandomNumberGenerator.GetBytes(32);
            await PutAsync(warm, known, TestData.Bytes(100, 99));
            var editing = warm.SessionStarted();
            Assert.False((await warm.GetAsync(1, known, editing, default)).Miss);
            Assert.True((await warm.GetAsync(2, RandomNumberGenerator.GetBytes(32), editing, default)).Miss);
            await Task.Delay(500);
            Assert.Equal(0, warm.Stats.PrefetchedCount);
        }

        await using var second = Cache("b");
        var build = second.SessionStarted();
        Assert.True((await second.GetAsync(0, RandomNumberGenerator.GetBytes(32), build, default)).Miss);
        await Poll.UntilAsync(() => Task.FromResult(second.Stats.PrefetchedCount == actions.Length), TimeSpan.FromSeconds(20), "every named entry prefetched");

        // Every action is now in the local tier, with its own body; counted as a remote hit, where it came from.
        var fetchedBefore = build.RemoteHits;
        for (var i = 0; i < actions.Length; i++)
        {
            var hit = await second.GetAsync(100 + i, actions[i], build, default);
            Assert.False(hit.Miss);
            Assert.Equal(bodies[i], await File.ReadAllBytesAsync(hit.DiskPath!));
        }

        Assert.Equal(actions.Length, build.RemoteHits - fetchedBefore);
        Assert.Equal(0, build.LocalHits);

        // The bytes down are what the prefetch downloaded, counted once, not again by the gets.
        var downloaded = bodies.Sum(b => (long)b.Length) / 1e6;
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Remote: {downloaded:F1} MB down"), second.Stats.Summary(), StringComparison.Ordinal);

        // Asked again, they are the local tier's.
        Assert.False((await second.GetAsync(200, actions[0], build, default)).Miss);
        Assert.Equal(1, build.LocalHits);
    }

    [Fact]
    public async Task With_prefetch_off_a_miss_downloads_nothing_ahead()
    {
        var body = TestData.Bytes(2000, 90);
        var action = RandomNumberGenerator.GetBytes(32);
        await using (var first = Cache("a"))
        {
            var session = first.SessionStarted();
            Assert.True((await first.GetAsync(1, action, session, default)).Miss);
            await PutAsync(first, action, body);
            Assert.True(await first.DrainAsync(TimeSpan.FromSeconds(30), default));
            await first.CloseAsync(session, default);
            await Poll.UntilAsync(async () => (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = BuildManifest.Folder })).S3Objects?.Count == 1, TimeSpan.FromSeconds(10), "the manifest published");
        }

        await using var second = new CacheService(Options("b") with { Prefetch = false }, TextWriter.Null);
        Assert.True((await second.GetAsync(1, RandomNumberGenerator.GetBytes(32), second.SessionStarted(), default)).Miss);
        await Task.Delay(1000);
        Assert.Equal(0, second.Stats.PrefetchedCount);
        Assert.Null(second.Local.Get(action));
    }

    [Fact]
    public async Task A_direct_builds_manifest_travels_in_its_spool_and_is_published_after_its_uploads()
    {
        var bodies = Enumerable.Range(0, 3).Select(i => TestData.Bytes(1000 + i, 80 + i)).ToArray();
        var actions = bodies.Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        SpooledUploads spooled;
        await using (var direct = new CacheService(Options("c"), TextWriter.Null, spoolUploads: true))
        {
            var session = direct.SessionStarted();
            for (var i = 0; i < actions.Length; i++)
            {
                Assert.True((await direct.GetAsync(i, actions[i], session, default)).Miss);
                await PutAsync(direct, actions[i], bodies[i], session);
            }

            await direct.CloseAsync(session, default);
            spooled = direct.SpoolListed(new UploadSpool(Path.Combine(_folder.Path, "c")), forWorkers: true)!;
        }

        var read = UploadSpool.Read(spooled.Path)!;
        Assert.Equal(actions, read.ActionIds);
        Assert.Equal(actions, read.Manifest);

        await using (var worker = Cache("c"))
        {
            Assert.True(await worker.UploadSpooledAsync(read, default));
        }

        var manifests = (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = BuildManifest.Folder })).S3Objects;
        var manifest = Assert.Single(manifests);
        using var response = await gateway.Client().GetObjectAsync(_bucket, manifest.Key);
        using var content = new MemoryStream();
        await response.ResponseStream.CopyToAsync(content);
        Assert.Equal(actions, BuildManifest.Parse(content.ToArray()));
    }

    [Fact]
    public async Task A_read_only_cache_prefetches_but_publishes_no_manifest()
    {
        await using var reader = Cache("r", readOnly: true);
        var session = reader.SessionStarted();
        Assert.True((await reader.GetAsync(1, RandomNumberGenerator.GetBytes(32), session, default)).Miss);
        await reader.CloseAsync(session, default);
        await Task.Delay(500);
        Assert.Empty((await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = BuildManifest.Folder })).S3Objects ?? []);
    }

    private CacheService Cache(string name, bool readOnly = false) =>
        new(Options(name) with { ReadOnly = readOnly }, TextWriter.Null);

    private CacheProgOptions Options(string name) => new()
    {
        CacheDirectory = Path.Combine(_folder.Path, name),
        Endpoint = gateway.BaseAddress,
        AccessKey = S3Gateway.AccessKey,
        SecretKey = S3Gateway.Secret,
        Bucket = _bucket,
    };

    private async Task<JsonElement> RemoteEntryAsync(byte[] action)
    {
        using var response = await gateway.Client().GetObjectAsync(_bucket, Convert.ToHexStringLower(action) + "-a.json");
        return (await JsonDocument.ParseAsync(response.ResponseStream)).RootElement.Clone();
    }

    internal static async Task<CacheResponse> PutAsync(CacheService cache, byte[] action, byte[] body, SessionCounters? session = null)
    {
        var path = cache.NewTemporaryPath();
        await File.WriteAllBytesAsync(path, body);
        return await cache.PutAsync(1, action, SHA256.HashData(body), new ReceivedBody(path, body.Length, SHA256.HashData(body)), session ?? new SessionCounters(), default);
    }
}
