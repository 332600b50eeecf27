using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Lock files the way tools take them (Terraform's S3 state lock): <c>If-None-Match: *</c> PUTs racing through two
/// gateway processes that share Redis and the nodes. The condition is checked in the metadata commit itself, so every
/// race has exactly one winner, the loser gets 412, and the object is the winner's.
/// </summary>
public sealed class ConditionalWriteRaceTests
{
    private const string AccessKey = "AKIDRACE";
    private const string Secret = "race secret";

    [Fact]
    public async Task Racing_if_none_match_puts_through_two_replicas_have_exactly_one_winner()
    {
        var credentials = new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
        };
        await using var cluster = await StorageCluster.StartAsync(8, credentials);
        await using var first = await cluster.StartGatewayAsync();
        await using var second = await cluster.StartGatewayAsync();
        using var a = Client(first.BaseAddress);
        using var b = Client(second.BaseAddress);
        await a.PutBucketAsync("locks");

        for (var round = 0; round < 12; round++)
        {
            var key = $"state-{round}.tflock";
            var bodies = new[] { TestData.Bytes(300_000, round), TestData.Bytes(300_000, round + 100) };
            var outcomes = await Task.WhenAll(TryLockAsync(a, key, bodies[0]), TryLockAsync(b, key, bodies[1]));

            Assert.Single(outcomes, o => o == HttpStatusCode.OK);
            Assert.Single(outcomes, o => o == HttpStatusCode.PreconditionFailed);
            var winner = bodies[Array.IndexOf(outcomes, HttpStatusCode.OK)];
            foreach (var client in new[] { a, b })
            {
                using var get = await client.GetObjectAsync("locks", key);
                using var read = new MemoryStream();
                await get.ResponseStream.CopyToAsync(read);
                Assert.Equal(winner, read.ToArray());
            }
        }
    }

    private static async Task<HttpStatusCode> TryLockAsync(AmazonS3Client client, string key, byte[] body)
    {
        try
        {
            return (await client.PutObjectAsync(new PutObjectRequest { BucketName = "locks", Key = key, InputStream = new MemoryStream(body), IfNoneMatch = "*" })).HttpStatusCode;
        }
        catch (AmazonS3Exception ex)
        {
            return ex.StatusCode;
        }
    }

    private static AmazonS3Client Client(Uri endpoint) =>
        new(new BasicAWSCredentials(AccessKey, Secret), new AmazonS3Config { ServiceURL = endpoint.ToString(), ForcePathStyle = true, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });
}
