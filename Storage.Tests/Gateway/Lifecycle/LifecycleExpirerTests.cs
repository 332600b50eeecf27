using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;
using BucketLifecycles = Storage.Gateway.Lifecycle.BucketLifecycles;
using LifecycleExpirer = Storage.Gateway.Lifecycle.LifecycleExpirer;
using StoredFilter = Storage.Gateway.Lifecycle.LifecycleFilter;
using StoredRule = Storage.Gateway.Lifecycle.LifecycleRule;
using StoredRules = Storage.Gateway.Lifecycle.LifecycleConfiguration;

namespace Storage.Tests.Gateway.Lifecycle;

/// <summary>
/// Lifecycle rules run by the gateway's expirer with one second per "day": through two gateway processes sharing Redis
/// and S3 nodes, one of them killed in the middle; and a scan interrupted after a page, resumed where it stopped.
/// </summary>
public sealed class LifecycleExpirerTests
{
    [Fact]
    public async Task Rules_expire_exactly_what_they_select_across_two_replicas_with_one_killed_midway()
    {
        var settings = new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = StorageCluster.AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = StorageCluster.Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
            ["Storage:Lifecycle:DayLength"] = "00:00:01",
            ["Storage:Lifecycle:Interval"] = "00:00:01",
            ["Storage:Lifecycle:RulesCacheTime"] = "00:00:00",
            ["Storage:Maintenance:LeaseDuration"] = "00:00:03",
        };
        await using var cluster = await StorageCluster.StartAsync(8, settings);
        var first = await cluster.StartGatewayAsync();
        await using var second = await cluster.StartGatewayAsync();
        using var a = Client(first.BaseAddress);
        using var b = Client(second.BaseAddress);
        await a.PutBucketAsync("backups");

        await a.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
        {
            BucketName = "backups",
            Configuration = new LifecycleConfiguration
            {
                Rules =
                [
                    new LifecycleRule
                    {
                        Id = "small-logs",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { And = new LifecycleRuleAndOperator { Prefix = "logs/", ObjectSizeLessThan = 1000 } },
                        Expiration = new LifecycleRuleExpiration { Days = 4 },
                    },
                    new LifecycleRule
                    {
                        Id = "temporary",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { Tag = new Tag { Key = "class", Value = "temp" } },
                        Expiration = new LifecycleRuleExpiration { Days = 4 },
                    },
                    new LifecycleRule
                    {
                        Id = "switched-off",
                        Status = LifecycleRuleStatus.Disabled,
                        Filter = new LifecycleFilter { Prefix = "keep/" },
                        Expiration = new LifecycleRuleExpiration { Days = 1 },
                    },
                    new LifecycleRule
                    {
                        Id = "stale-uploads",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { Prefix = "uploads/" },
                        AbortIncompleteMultipartUpload = new LifecycleRuleAbortIncompleteMultipartUpload { DaysAfterInitiation = 4 },
                    },
                ],
            },
        });

        string[] expiring = ["logs/a.log", "logs/b.log", "tmp/scratch"];
        string[] kept = ["logs/big.log", "tmp/kept", "keep/notes", "other"];
        await PutAsync(a, "logs/a.log", 100);
        await PutAsync(b, "logs/b.log", 999);
        await PutAsync(a, "logs/big.log", 200_000);
        await PutAsync(b, "tmp/scratch", 300_000, ("class", "temp"));
        await PutAsync(a, "tmp/kept", 10, ("class", "permanent"));
        await PutAsync(b, "keep/notes", 10);
        await PutAsync(a, "other", 10);
        var staleUpload = (await b.InitiateMultipartUploadAsync("backups", "uploads/half")).UploadId;
        var otherUpload = (await b.InitiateMultipartUploadAsync("backups", "elsewhere/half")).UploadId;

        // Each replica reports the rule that will expire an object, and none for one no rule selects.
        var head = await b.GetObjectMetadataAsync("backups", "tmp/scratch");
        Assert.Equal("temporary", head.Expiration?.RuleId);
        var (expires, modified) = (((DateTime)head.Expiration!.ExpiryDate!).ToUniversalTime(), ((DateTime)head.LastModified!).ToUniversalTime());
        Assert.InRange(expires, modified.AddSeconds(3), modified.AddSeconds(5));
        Assert.Null((await a.GetObjectMetadataAsync("backups", "other")).Expiration);

        // One replica dies before anything is due; the other, and one started after, carry on.
        await first.KillAsync();
        await first.DisposeAsync();
        await using var third = await cluster.StartGatewayAsync();
        using var c = Client(third.BaseAddress);

        await Poll.UntilAsync(async () => (await KeysAsync(c)).Intersect(expiring).Any() is false, TimeSpan.FromSeconds(60), "the selected objects to expire");
        await Poll.UntilAsync(async () => (await UploadsAsync(b)).Contains(staleUpload) is false, TimeSpan.FromSeconds(30), "the stale upload to be aborted");

        // Several more passes leave everything else alone.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(kept.Order(StringComparer.Ordinal), await KeysAsync(b));
        Assert.Equal([otherUpload], await UploadsAsync(c));
        Assert.Empty(await cluster.MissingPartsAsync());
    }

    [Fact]
    public async Task A_scan_interrupted_after_a_page_resumes_where_it_stopped()
    {
        await using var host = await GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:Lifecycle:DayLength"] = "00:00:01",
            ["Storage:Lifecycle:Interval"] = "01:00:00",
            ["Storage:Lifecycle:MaxExpirationsPerSecond"] = "100000",
        });
        var metadata = host.Service<IMetadataStore>();
        var lifecycles = host.Service<BucketLifecycles>();
        await metadata.CreateBucketAsync(new BucketRecord("cache", DateTimeOffset.UtcNow), default);
        var written = DateTimeOffset.UtcNow.AddMinutes(-1);
        foreach (var batch in Enumerable.Range(0, 1500).Chunk(100))
        {
            await Task.WhenAll(batch.Select(i => metadata.CommitObjectAsync(TestData.Record("cache", $"entry-{i:D4}", 10, written) with { Segments = [] }, written, default)));
        }

        await lifecycles.SetAsync("cache", new StoredRules([new StoredRule("old", true, new StoredFilter("entry-"), ExpirationDays: 1)]), default);

        // As a pass that died after its first page left it.
        await metadata.SetBucketDocumentAsync("cache", BucketLifecycles.PositionDocument, "entry-0999", default);
        var resumed = await host.Service<LifecycleExpirer>().RunAsync(default);
        Assert.Equal((500L, 500L), (resumed.Scanned, resumed.Expired));
        Assert.Equal("entry-0999", (await metadata.ListObjectsAsync("cache", "", null, 2000, default))[^1].Key);
        Assert.Null(await metadata.GetBucketDocumentAsync("cache", BucketLifecycles.PositionDocument, default));

        var next = await host.Service<LifecycleExpirer>().RunAsync(default);
        Assert.Equal((1000L, 1000L), (next.Scanned, next.Expired));
        Assert.Empty(await metadata.ListObjectsAsync("cache", "", null, 10, default));
    }

    private static async Task PutAsync(AmazonS3Client client, string key, int size, params (string Key, string Value)[] tags) =>
        await client.PutObjectAsync(new PutObjectRequest
        {
            BucketName = "backups",
            Key = key,
            InputStream = new MemoryStream(TestData.Bytes(size, key.Length)),
            TagSet = tags.Length > 0 ? [.. tags.Select(t => new Tag { Key = t.Key, Value = t.Value })] : null,
        });

    private static async Task<List<string>> KeysAsync(AmazonS3Client client) =>
        [.. ((await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "backups" })).S3Objects ?? []).Select(o => o.Key)];

    private static async Task<List<string>> UploadsAsync(AmazonS3Client client) =>
        [.. ((await client.ListMultipartUploadsAsync("backups")).MultipartUploads ?? []).Select(u => u.UploadId)];

    [Fact]
    public async Task Noncurrent_versions_and_lone_delete_markers_go_exactly_as_the_rules_say()
    {
        var settings = new Dictionary<string, string>(StorageCluster.S3Settings)
        {
            ["Storage:Lifecycle:DayLength"] = "00:00:01",
            ["Storage:Lifecycle:Interval"] = "00:00:01",
            ["Storage:Lifecycle:RulesCacheTime"] = "00:00:00",
        };
        await using var cluster = await StorageCluster.StartAsync(8, settings);
        await using var gateway = await cluster.StartGatewayAsync();
        using var s3 = Client(gateway.BaseAddress);
        await s3.PutBucketAsync("versions");
        await s3.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "versions", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });
        async Task<string> PutAsync(string key) => (await s3.PutObjectAsync(new PutObjectRequest { BucketName = "versions", Key = key, ContentBody = key })).VersionId;
        var selected = new List<string>();
        var unselected = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            selected.Add(await PutAsync("v/a"));
            unselected.Add(await PutAsync("x/a"));
        }

        var alone = await PutAsync("m/alone");
        var aloneMarker = (await s3.DeleteObjectAsync("versions", "m/alone")).VersionId;
        await s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = "versions", Key = "m/alone", VersionId = alone });
        var backed = await PutAsync("m/backed");
        var backedMarker = (await s3.DeleteObjectAsync("versions", "m/backed")).VersionId;

        await s3.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
        {
            BucketName = "versions",
            Configuration = new LifecycleConfiguration
            {
                Rules =
                [
                    new LifecycleRule
                    {
                        Id = "old-versions",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { Prefix = "v/" },
                        NoncurrentVersionExpiration = new LifecycleRuleNoncurrentVersionExpiration { NoncurrentDays = 2, NewerNoncurrentVersions = 1 },
                    },
                    new LifecycleRule
                    {
                        Id = "markers",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { Prefix = "m/" },
                        Expiration = new LifecycleRuleExpiration { ExpiredObjectDeleteMarker = true },
                    },
                ],
            },
        });

        string[] Expected() =>
        [
            $"m/backed {backedMarker} latest",
            $"m/backed {backed}",
            $"v/a {selected[3]} latest",
            $"v/a {selected[2]}",
            .. Enumerable.Reverse(unselected).Select((id, i) => i == 0 ? $"x/a {id} latest" : $"x/a {id}"),
        ];
        async Task<string[]> ListedAsync() =>
            [.. ((await s3.ListVersionsAsync("versions")).Versions ?? []).Select(v => $"{v.Key} {v.VersionId}{(v.IsLatest == true ? " latest" : "")}")];
        await Poll.UntilAsync(async () => (await ListedAsync()).SequenceEqual(Expected()), TimeSpan.FromSeconds(60), "the rules to remove v/a's two oldest versions and m/alone's marker");

        // A few more passes change nothing: the newest noncurrent version is kept, the unselected and backed keys stay.
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Equal(Expected(), await ListedAsync());
        Assert.DoesNotContain(aloneMarker, string.Join(' ', await ListedAsync()), StringComparison.Ordinal);
        Assert.Empty(await cluster.MissingPartsAsync());
    }

    private static AmazonS3Client Client(Uri address) => StorageCluster.S3Client(address);
}
