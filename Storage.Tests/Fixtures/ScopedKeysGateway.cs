using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A gateway with keys of every kind: an administrator, a reader and a writer of one bucket, and the administrator of
/// a bucket-name prefix; /admin needs a bearer key, so loopback alone does not open it. Two buckets are there from
/// the start: <see cref="Shared"/> with <see cref="Document"/> and <see cref="Private"/> with <see cref="Secret"/>.
/// </summary>
public sealed class ScopedKeysGateway : IAsyncLifetime
{
    public const string Shared = "shared";
    public const string Private = "private";
    public const string Document = "doc";
    public const string Secret = "secret";
    public const string DocumentText = "original";
    public const string BearerKey = "bearer-admin-key";

    public static readonly (string AccessKey, string Secret) Administrator = ("AKIDADMIN", "admin secret");
    public static readonly (string AccessKey, string Secret) Reader = ("AKIDREADER", "reader secret");
    public static readonly (string AccessKey, string Secret) Writer = ("AKIDWRITER", "writer secret");
    public static readonly (string AccessKey, string Secret) TeamOwner = ("AKIDTEAM", "team secret");

    public GatewayHost Host { get; private set; } = null!;

    public Uri BaseAddress => Host.BaseAddress;

    public async ValueTask InitializeAsync()
    {
        Host = await GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:AdminKey"] = BearerKey,
            ["Storage:S3:Credentials:0:AccessKey"] = Administrator.AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = Administrator.Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
            ["Storage:S3:Credentials:1:AccessKey"] = Reader.AccessKey,
            ["Storage:S3:Credentials:1:SecretKey"] = Reader.Secret,
            ["Storage:S3:Credentials:1:Grants:0:Bucket"] = Shared,
            ["Storage:S3:Credentials:1:Grants:0:Access"] = "read",
            ["Storage:S3:Credentials:2:AccessKey"] = Writer.AccessKey,
            ["Storage:S3:Credentials:2:SecretKey"] = Writer.Secret,
            ["Storage:S3:Credentials:2:Grants:0:Bucket"] = Shared,
            ["Storage:S3:Credentials:2:Grants:0:Access"] = "Write",
            ["Storage:S3:Credentials:3:AccessKey"] = TeamOwner.AccessKey,
            ["Storage:S3:Credentials:3:SecretKey"] = TeamOwner.Secret,
            ["Storage:S3:Credentials:3:Grants:0:Bucket"] = "team-*",
            ["Storage:S3:Credentials:3:Grants:0:Access"] = "Admin",
        });
        using var admin = Client(Administrator);
        await admin.PutBucketAsync(Shared);
        await admin.PutBucketAsync(Private);
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = Shared, Key = Document, ContentBody = DocumentText });
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = Private, Key = Secret, ContentBody = "s3cret" });
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();

    public static string PublicReadOf(string bucket) =>
        $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{{bucket}}/*"}]}""";

    /// <summary>The request is refused with 403 AccessDenied.</summary>
    public static async Task DeniedAsync(Func<Task> request)
    {
        var refused = await Assert.ThrowsAsync<AmazonS3Exception>(request);
        Assert.Equal((HttpStatusCode.Forbidden, "AccessDenied"), (refused.StatusCode, refused.ErrorCode));
    }

    public static async Task<string> TextAsync(AmazonS3Client s3, string bucket, string key)
    {
        using var response = await s3.GetObjectAsync(bucket, key);
        using var reader = new StreamReader(response.ResponseStream);
        return await reader.ReadToEndAsync();
    }

    public AmazonS3Client Client((string AccessKey, string Secret) key) =>
        new(new BasicAWSCredentials(key.AccessKey, key.Secret), new AmazonS3Config
        {
            ServiceURL = BaseAddress.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
        });
}
