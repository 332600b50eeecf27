using Amazon.Runtime;
using Amazon.S3;

namespace Storage.Tests.Fixtures;

/// <summary>A gateway with known S3 credentials (the secret has '/', '+' and a space) and a public-read bucket, shared by a test class.</summary>
public sealed class S3Gateway : IAsyncLifetime
{
    public const string AccessKey = "AKIDSTORAGETEST";
    public const string Secret = "test secret/with+chars";
    public const string Region = "us-east-1";
    public const string PublicBucket = "public";
    public const string VirtualHostDomain = "s3.storage.test";

    public GatewayHost Host { get; private set; } = null!;

    public Uri BaseAddress => Host.BaseAddress;

    public async ValueTask InitializeAsync() =>
        Host = await GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
            ["Storage:S3:PublicReadBuckets:0"] = PublicBucket,
            ["Storage:S3:VirtualHostDomain"] = VirtualHostDomain,
        });

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();

    /// <summary>AWSSDK.S3 at its defaults (flexible checksums, aws-chunked uploads), path-style, pointed at the gateway.</summary>
    public AmazonS3Client Client(string accessKey = AccessKey, string secret = Secret) =>
        new(new BasicAWSCredentials(accessKey, secret), new AmazonS3Config
        {
            ServiceURL = BaseAddress.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = Region,
            Timeout = TimeSpan.FromMinutes(2),
        });
}
