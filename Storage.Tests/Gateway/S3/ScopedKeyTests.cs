using System.Net;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Security;
using Storage.Tests.Fixtures;
using static Storage.Tests.Fixtures.ScopedKeysGateway;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Keys carry grants (read, write, admin per bucket or bucket prefix): every operation a key lacks the grant for is
/// 403 AccessDenied through AWSSDK.S3, and nothing it asked for happened. /admin takes requests signed by an
/// administrator key (curl's own SigV4 signer) and nothing less.
/// </summary>
public sealed class ScopedKeyTests(ScopedKeysGateway gateway) : IClassFixture<ScopedKeysGateway>
{
    [Fact]
    public async Task A_reader_reads_and_lists_its_bucket_and_sees_no_other()
    {
        using var reader = gateway.Client(Reader);
        Assert.Equal(DocumentText, await TextAsync(reader, Shared, Document));
        Assert.Equal([Document], (await reader.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Shared })).S3Objects.Select(o => o.Key));
        Assert.Equal([Shared], (await reader.ListBucketsAsync()).Buckets.Select(b => b.BucketName));

        await DeniedAsync(() => reader.GetObjectAsync(Private, Secret));
        await DeniedAsync(() => reader.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Private }));
        await DeniedAsync(() => reader.GetObjectAsync("no-such-bucket", "k"));

        using var admin = gateway.Client(Administrator);
        Assert.Contains(Private, (await admin.ListBucketsAsync()).Buckets.Select(b => b.BucketName));
    }

    [Fact]
    public async Task A_read_grant_refuses_every_write_and_nothing_changes()
    {
        using var reader = gateway.Client(Reader);
        await DeniedAsync(() => reader.PutObjectAsync(new PutObjectRequest { BucketName = Shared, Key = Document, ContentBody = "changed" }));
        await DeniedAsync(() => reader.PutObjectAsync(new PutObjectRequest { BucketName = Shared, Key = "new", ContentBody = "new" }));
        await DeniedAsync(() => reader.DeleteObjectAsync(Shared, Document));
        await DeniedAsync(() => reader.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = Shared, Objects = [new KeyVersion { Key = Document }] }));
        await DeniedAsync(() => reader.CopyObjectAsync(Shared, Document, Shared, "copy"));
        await DeniedAsync(() => reader.PutObjectTaggingAsync(new PutObjectTaggingRequest { BucketName = Shared, Key = Document, Tagging = new Tagging { TagSet = [new Tag { Key = "k", Value = "v" }] } }));
        await DeniedAsync(() => reader.InitiateMultipartUploadAsync(Shared, "upload"));
        await DeniedAsync(() => reader.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = Shared, VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } }));
        await DeniedAsync(() => reader.DeleteBucketAsync(Shared));

        using var admin = gateway.Client(Administrator);
        Assert.Equal(DocumentText, await TextAsync(admin, Shared, Document));
        Assert.Equal([Document], (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Shared })).S3Objects.Select(o => o.Key));
        Assert.Empty((await admin.GetObjectTaggingAsync(new GetObjectTaggingRequest { BucketName = Shared, Key = Document })).Tagging ?? []);
        Assert.Empty((await admin.ListMultipartUploadsAsync(Shared)).MultipartUploads ?? []);
        Assert.NotEqual(VersionStatus.Enabled, (await admin.GetBucketVersioningAsync(Shared)).VersioningConfig.Status);
    }

    [Fact]
    public async Task A_write_grant_writes_objects_but_neither_the_bucket_nor_its_settings()
    {
        using var writer = gateway.Client(Writer);
        await writer.PutObjectAsync(new PutObjectRequest { BucketName = Shared, Key = "written", ContentBody = "by the writer" });
        Assert.Equal("by the writer", await TextAsync(writer, Shared, "written"));
        await writer.DeleteObjectAsync(Shared, "written");

        await DeniedAsync(() => writer.PutBucketAsync("writer-made"));
        await DeniedAsync(() => writer.DeleteBucketAsync(Shared));
        await DeniedAsync(() => writer.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = Shared, VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } }));
        await DeniedAsync(() => writer.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
        {
            BucketName = Shared,
            Configuration = new LifecycleConfiguration { Rules = [new LifecycleRule { Id = "all", Status = LifecycleRuleStatus.Enabled, Filter = new LifecycleFilter { LifecycleFilterPredicate = new LifecyclePrefixPredicate { Prefix = string.Empty } }, Expiration = new LifecycleRuleExpiration { Days = 1 } }] },
        }));
        await DeniedAsync(() => writer.PutBucketPolicyAsync(Shared, PublicReadOf(Shared)));
        await DeniedAsync(() => writer.GetBucketPolicyAsync(Shared));
        await DeniedAsync(() => writer.PutObjectAsync(new PutObjectRequest { BucketName = Private, Key = "planted", ContentBody = "x" }));

        using var admin = gateway.Client(Administrator);
        Assert.DoesNotContain("writer-made", (await admin.ListBucketsAsync()).Buckets.Select(b => b.BucketName));
        Assert.NotEqual(VersionStatus.Enabled, (await admin.GetBucketVersioningAsync(Shared)).VersioningConfig.Status);
        // AWSSDK.S3 returns S3's 404 NoSuchLifecycleConfiguration and NoSuchBucketPolicy as responses, not exceptions.
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetLifecycleConfigurationAsync(Shared)).HttpStatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetBucketPolicyAsync(Shared)).HttpStatusCode);
        Assert.Equal([Secret], (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Private })).S3Objects.Select(o => o.Key));
    }

    [Fact]
    public async Task A_copy_needs_read_access_to_its_source()
    {
        using var writer = gateway.Client(Writer);
        await DeniedAsync(() => writer.CopyObjectAsync(Private, Secret, Shared, "stolen"));

        var upload = await writer.InitiateMultipartUploadAsync(Shared, "stolen-in-parts");
        await DeniedAsync(() => writer.CopyPartAsync(new CopyPartRequest { SourceBucket = Private, SourceKey = Secret, DestinationBucket = Shared, DestinationKey = "stolen-in-parts", UploadId = upload.UploadId, PartNumber = 1 }));
        var parts = await writer.ListPartsAsync(Shared, "stolen-in-parts", upload.UploadId);
        Assert.Empty(parts.Parts ?? []);
        await writer.AbortMultipartUploadAsync(Shared, "stolen-in-parts", upload.UploadId);

        await writer.CopyObjectAsync(Shared, Document, Shared, "doc-copy");
        Assert.Equal(DocumentText, await TextAsync(writer, Shared, "doc-copy"));
        await writer.DeleteObjectAsync(Shared, "doc-copy");

        using var admin = gateway.Client(Administrator);
        var keys = (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Shared })).S3Objects.Select(o => o.Key);
        Assert.DoesNotContain("stolen", keys);
        Assert.DoesNotContain("stolen-in-parts", keys);
    }

    [Fact]
    public async Task A_prefix_admin_grant_administers_the_buckets_it_names_and_no_others()
    {
        using var team = gateway.Client(TeamOwner);
        await team.PutBucketAsync("team-builds");
        await team.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "team-builds", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });
        await team.PutObjectAsync(new PutObjectRequest { BucketName = "team-builds", Key = "a", ContentBody = "a" });
        Assert.Equal(["team-builds"], (await team.ListBucketsAsync()).Buckets.Select(b => b.BucketName));

        await DeniedAsync(() => team.PutBucketAsync("builds"));
        await DeniedAsync(() => team.PutBucketAsync("teamx"));
        await DeniedAsync(() => team.GetObjectAsync(Shared, Document));

        using var admin = gateway.Client(Administrator);
        var names = (await admin.ListBucketsAsync()).Buckets.Select(b => b.BucketName).ToList();
        Assert.Contains("team-builds", names);
        Assert.DoesNotContain("builds", names);
        Assert.DoesNotContain("teamx", names);
    }

    [Fact]
    public async Task The_admin_api_takes_requests_signed_by_an_administrator_key_and_nothing_less()
    {
        var nodes = gateway.BaseAddress + "admin/nodes";
        Assert.Equal("200", await CurlStatusAsync(Administrator, "GET", nodes));
        Assert.Equal("200", await CurlStatusAsync(Administrator, "POST", gateway.BaseAddress + "admin/sweep"));
        Assert.Equal("403", await CurlStatusAsync(Reader, "GET", nodes));
        Assert.Equal("403", await CurlStatusAsync((Administrator.AccessKey, "wrong secret"), "GET", nodes));
        Assert.Equal("401", await CurlStatusAsync(null, "GET", nodes));

        // A body other than the one signed is refused, and the node it names is not added.
        using var extra = new TempDirectory("scoped-admin");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway.BaseAddress, "/admin/nodes"));
        SigV4.Sign(request, Administrator.AccessKey, Administrator.Secret, "us-east-1", DateTimeOffset.UtcNow, SigV4.Sha256Hex("{}"));
        request.Content = new StringContent($$"""{"path":"{{extra.Path}}"}""", Encoding.UTF8, "application/json");
        using var tampered = await gateway.Host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
        using var view = new HttpRequestMessage(HttpMethod.Get, "/admin/nodes") { Headers = { Authorization = new("Bearer", BearerKey) } };
        Assert.DoesNotContain(extra.Path, await (await gateway.Host.Client.SendAsync(view, TestContext.Current.CancellationToken)).Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_configured_without_grants_stops_the_gateway_at_start()
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = "AKIDNOTHING",
            ["Storage:S3:Credentials:0:SecretKey"] = "nothing",
        }));
        Assert.Contains("'AKIDNOTHING' has no grants", refused.Message, StringComparison.Ordinal);

        var pattern = await Assert.ThrowsAnyAsync<Exception>(() => GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = "AKIDBAD",
            ["Storage:S3:Credentials:0:SecretKey"] = "bad",
            ["Storage:S3:Credentials:0:Grants:0:Bucket"] = "Team_*",
        }));
        Assert.Contains("'Team_*'", pattern.Message, StringComparison.Ordinal);
    }

    /// <summary>curl's own SigV4 (<c>--aws-sigv4</c>), as an operator would call /admin; null: an unsigned request.</summary>
    private static async Task<string> CurlStatusAsync((string AccessKey, string Secret)? key, string method, string url)
    {
        List<string> arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, url];
        if (key is { } signing)
        {
            arguments.AddRange(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", $"{signing.AccessKey}:{signing.Secret}"]);
        }

        return await CommandLine.RunCheckedAsync("curl", arguments, new Dictionary<string, string?>(), TimeSpan.FromMinutes(1));
    }
}
