using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Api.S3.Access;
using Storage.Tests.Fixtures;
using static Storage.Tests.Fixtures.ScopedKeysGateway;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Bucket policies in the subset this store enforces: anonymous read of a bucket or of a key pattern, and denies that
/// hold against every key. Anything else is refused when put (501 or 400) and nothing is stored.
/// </summary>
public sealed class BucketPolicyTests(ScopedKeysGateway gateway) : IClassFixture<ScopedKeysGateway>
{
    [Fact]
    public async Task Public_read_of_a_prefix_opens_those_keys_to_anyone_and_nothing_else()
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("site");
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "site", Key = "pub/index.html", ContentBody = "<p>hello</p>" });
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "site", Key = "drafts/next.html", ContentBody = "draft" });
        using var anonymous = new HttpClient { BaseAddress = gateway.BaseAddress };
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/site/pub/index.html", TestContext.Current.CancellationToken)).StatusCode);

        const string Policy = """{"Version":"2012-10-17","Statement":[{"Sid":"site","Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"],"Resource":"arn:aws:s3:::site/pub/*"}]}""";
        await admin.PutBucketPolicyAsync("site", Policy);
        Assert.Equal(Policy, (await admin.GetBucketPolicyAsync("site")).Policy);

        Assert.Equal("<p>hello</p>", await anonymous.GetStringAsync("/site/pub/index.html", TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/site/drafts/next.html", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/site?list-type=2", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.PutAsync("/site/pub/planted.html", new StringContent("x"), TestContext.Current.CancellationToken)).StatusCode);

        // Public means everyone: a key with no grant on the bucket reads what anonymous readers may.
        using var reader = gateway.Client(Reader);
        Assert.Equal("<p>hello</p>", await TextAsync(reader, "site", "pub/index.html"));
        await DeniedAsync(() => reader.GetObjectAsync("site", "drafts/next.html"));

        await admin.DeleteBucketPolicyAsync("site");
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/site/pub/index.html", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal([Document], (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Shared })).S3Objects.Select(o => o.Key));
    }

    [Fact]
    public async Task A_deny_of_writes_holds_against_every_key_and_per_key_in_a_batch_delete()
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("vault");
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "vault", Key = "locked/ledger", ContentBody = "ledger" });
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "vault", Key = "open/note", ContentBody = "note" });
        await admin.PutBucketPolicyAsync("vault", """
            {"Statement":{"Effect":"Deny","Principal":"*","Action":["s3:PutObject","s3:Delete*"],"Resource":["arn:aws:s3:::vault/locked/*"]}}
            """);

        await DeniedAsync(() => admin.PutObjectAsync(new PutObjectRequest { BucketName = "vault", Key = "locked/ledger", ContentBody = "rewritten" }));
        await DeniedAsync(() => admin.DeleteObjectAsync("vault", "locked/ledger"));
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "vault", Key = "open/other", ContentBody = "fine" });

        var batch = (await Assert.ThrowsAsync<DeleteObjectsException>(() => admin.DeleteObjectsAsync(new DeleteObjectsRequest
        {
            BucketName = "vault",
            Objects = [new KeyVersion { Key = "locked/ledger" }, new KeyVersion { Key = "open/note" }],
        }))).Response;
        Assert.Equal(["open/note"], batch.DeletedObjects.Select(d => d.Key));
        Assert.Equal(("locked/ledger", "AccessDenied"), (batch.DeleteErrors.Single().Key, batch.DeleteErrors.Single().Code));
        Assert.Equal("ledger", await TextAsync(admin, "vault", "locked/ledger"));

        // The policy never locks out its own repair.
        await admin.DeleteBucketPolicyAsync("vault");
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "vault", Key = "locked/ledger", ContentBody = "rewritten" });
        Assert.Equal("rewritten", await TextAsync(admin, "vault", "locked/ledger"));
    }

    [Theory]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::drafts/*"}]}""", 501, "NotImplemented")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::drafts/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}""", 501, "NotImplemented")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::drafts/*"}]}""", 501, "NotImplemented")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::drafts/*"}]}""", 501, "NotImplemented")]
    [InlineData("""{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::drafts/*"}]}""", 501, "NotImplemented")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::drafts"}]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::drafts/*"}]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::drafts/*"}]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Version":"2020-01-01","Statement":[]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Statement":[]}""", 400, "MalformedPolicy")]
    [InlineData("""{"Statement":[{"Effect":1,"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::drafts/*"}]}""", 400, "MalformedPolicy")]
    [InlineData("""not json""", 400, "MalformedPolicy")]
    public async Task A_policy_it_cannot_enforce_or_that_S3_would_refuse_is_not_stored(string policy, int status, string code)
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("drafts");
        try
        {
            var refused = await Assert.ThrowsAsync<AmazonS3Exception>(() => admin.PutBucketPolicyAsync("drafts", policy));
            Assert.Equal((status, code), ((int)refused.StatusCode, refused.ErrorCode));
            // AWSSDK.S3 returns S3's 404 NoSuchBucketPolicy as a response, not an exception.
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetBucketPolicyAsync("drafts")).HttpStatusCode);
        }
        finally
        {
            await admin.DeleteBucketAsync("drafts");
        }
    }

    [Theory]
    [InlineData("locked/*", "locked/a/b", true)]
    [InlineData("locked/*", "locked/", true)]
    [InlineData("locked/*", "lockedx", false)]
    [InlineData("*.log", "a/b.log", true)]
    [InlineData("*.log", "a/b.logs", false)]
    [InlineData("v?/x", "v1/x", true)]
    [InlineData("v?/x", "v12/x", false)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    [InlineData("", "", true)]
    public void Wildcards_match_as_IAM_does(string pattern, string text, bool matches) =>
        Assert.Equal(matches, Wildcards.Matches(pattern, text));
}
