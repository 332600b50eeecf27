using System.Security.Cryptography;
using Amazon.S3.Model;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>The <c>clean</c> and <c>stats</c> commands, run as the real executable.</summary>
public sealed class CommandTests(S3Gateway gateway) : IClassFixture<S3Gateway>, IDisposable
{
    private readonly TempDirectory _folder = new("cacheprog-commands");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Clean_counts_in_a_dry_run_then_deletes_only_under_its_prefix()
    {
        var bucket = $"clean-{Guid.NewGuid():N}"[..18];
        var s3 = gateway.Client();
        await s3.PutBucketAsync(bucket);
        foreach (var key in new[] { "linux/a-d", "linux/b-a.json", "darwin/c-d" })
        {
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = key });
        }

        string[] common = ["--endpoint", gateway.BaseAddress.ToString(), "--bucket", bucket, "--prefix", "linux/", "--dir", _folder.Path];
        var dryRun = await RunAsync(["clean", .. common, "--dry-run"]);
        Assert.Contains("Would delete 2 objects", dryRun, StringComparison.Ordinal);
        Assert.Equal(3, (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket })).KeyCount);

        Assert.Contains("Deleted 2 objects", await RunAsync(["clean", .. common]), StringComparison.Ordinal);
        var left = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Equal(["darwin/c-d"], left.S3Objects.Select(o => o.Key));
    }

    [Fact]
    public async Task Stats_reports_the_local_tier_and_recent_sessions()
    {
        var options = new CacheProgOptions { CacheDirectory = _folder.Path };
        await using (var cache = new CacheService(options, TextWriter.Null))
        {
            var body = TestData.Bytes(4096, 5);
            var path = cache.NewTemporaryPath();
            await File.WriteAllBytesAsync(path, body);
            var action = RandomNumberGenerator.GetBytes(32);
            await cache.PutAsync(1, action, SHA256.HashData(body), new ReceivedBody(path, body.Length, SHA256.HashData(body)), new SessionCounters(), default);
            await cache.GetAsync(2, action, new SessionCounters(), default);
            await cache.GetAsync(3, RandomNumberGenerator.GetBytes(32), new SessionCounters(), default);
            StatsHistory.Append(_folder.Path, cache.Stats.ToRecord());
        }

        var stats = await RunAsync(["stats", "--dir", _folder.Path]);
        Assert.Contains("1 entries, 0.0 MB", stats, StringComparison.Ordinal);
        Assert.Contains("Hit rate over 1 sessions: 50", stats, StringComparison.Ordinal);
    }

    private static Task<string> RunAsync(string[] arguments) =>
        CommandLine.RunCheckedAsync(GoToolchain.CacheProg, arguments, new Dictionary<string, string?>
        {
            ["S3_ACCESS_KEY_ID"] = S3Gateway.AccessKey,
            ["S3_SECRET_ACCESS_KEY"] = S3Gateway.Secret,
            ["AWS_CA_BUNDLE"] = null,
        }, TimeSpan.FromMinutes(1));
}
