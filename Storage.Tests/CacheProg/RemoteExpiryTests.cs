using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>
/// The Go cache on a bucket with a lifecycle rule that expires what was not written for six "days" (a day is a second
/// here): the entries builds keep hitting are written again as they age and stay, bodies large and small; the unused go.
/// </summary>
public sealed class RemoteExpiryTests : IAsyncLifetime
{
    private const string Bucket = "gocache";

    private readonly TempDirectory _folder = new("cacheprog-expiry");
    private GatewayHost _gateway = null!;

    public async ValueTask InitializeAsync() =>
        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string>(StorageCluster.S3Settings)
        {
            ["Storage:Lifecycle:DayLength"] = "00:00:01",
            ["Storage:Lifecycle:Interval"] = "00:00:01",
            ["Storage:Lifecycle:RulesCacheTime"] = "00:00:00",
        });

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _folder.Dispose();
    }

    [Fact]
    public async Task Entries_hits_keep_using_are_refreshed_and_survive_expiry_while_unused_ones_expire()
    {
        using var s3 = StorageCluster.S3Client(_gateway.BaseAddress);
        await s3.PutBucketAsync(Bucket);
        await s3.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
        {
            BucketName = Bucket,
            Configuration = new LifecycleConfiguration
            {
                Rules = [new LifecycleRule { Id = "unused-cache-entries", Status = LifecycleRuleStatus.Enabled, Filter = new LifecycleFilter { Prefix = "" }, Expiration = new LifecycleRuleExpiration { Days = 6 } }],
            },
        });

        await using var cache = new CacheService(new CacheProgOptions
        {
            CacheDirectory = _folder.Path,
            Endpoint = _gateway.BaseAddress,
            AccessKey = StorageCluster.AccessKey,
            SecretKey = StorageCluster.Secret,
            Bucket = Bucket,
            Prefetch = false,
            RefreshAfter = TimeSpan.FromSeconds(2),
        }, TextWriter.Null);
        var bodies = new[] { TestData.Bytes(500, 1), TestData.Bytes(200_000, 2), TestData.Bytes(500, 3), TestData.Bytes(200_000, 4) };
        var actions = bodies.Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        foreach (var (action, body) in actions.Zip(bodies))
        {
            await RemoteTierTests.PutAsync(cache, action, body);
        }

        Assert.True(await cache.DrainAsync(TimeSpan.FromSeconds(30), default));
        var used = actions[..2];
        var deadline = DateTime.UtcNow.AddSeconds(12);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var action in used)
            {
                Assert.False((await cache.GetAsync(1, action, new SessionCounters(), default)).Miss);
            }

            await cache.DrainAsync(TimeSpan.FromSeconds(10), default);
            await Task.Delay(250);
        }

        var kept = await KeysAsync(s3);
        string[] expected = [.. used.Select(a => Convert.ToHexStringLower(a) + "-a.json"), .. bodies[..2].Select(b => Convert.ToHexStringLower(SHA256.HashData(b)) + "-d")];
        Assert.Equal(expected.Order(StringComparer.Ordinal), kept);
        Assert.InRange(cache.Stats.Refreshes, 6, 20);
    }

    private static async Task<string[]> KeysAsync(AmazonS3Client s3) =>
        [.. ((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket })).S3Objects ?? []).Select(o => o.Key).Order(StringComparer.Ordinal)];
}
