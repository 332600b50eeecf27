using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Aspire;

/// <summary>
/// The AppHost's whole topology, started with DistributedApplicationTestingBuilder: compiled and run only where the
/// Aspire packages restore (the test command passes -p:AspireTests=true then). Without a container engine the
/// AppHost runs Redis and the nodes as local processes and folders, which is what this test asks for there.
/// </summary>
public sealed class AppHostTests
{
    private const string AccessKey = "AKIDASPIRETEST";
    private const string Secret = "aspire-test-secret";

    [Fact]
    public async Task The_topology_starts_healthy_serves_every_api_and_caches_go_builds_in_the_store()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        var cancellationToken = timeout.Token;
        using var sandbox = new TempDirectory("apphost");
        var socket = Path.Combine(sandbox.Path, "worker.sock");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Storage_AppHost>(
            [
                $"Storage:DataPath={sandbox.Path}",
                $"Storage:CacheProg:Listen=unix:{socket}",
                $"Parameters:s3-access-key={AccessKey}",
                $"Parameters:s3-secret-key={Secret}",
            ],
            cancellationToken);
        await using var app = await builder.BuildAsync(cancellationToken);
        await app.StartAsync(cancellationToken);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("gateway", cancellationToken);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("cacheprog", cancellationToken);

        // Both REST APIs.
        using var gateway = app.CreateHttpClient("gateway");
        var data = TestData.Bytes(1_000_000, 61);
        (await gateway.PutAsync("/object/aspire1", new ByteArrayContent(data), cancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal(data, await gateway.GetByteArrayAsync("/object/aspire1", cancellationToken));
        using var form = new MultipartFormDataContent { { new ByteArrayContent(data), "file", "report.bin" } };
        var file = await (await gateway.PutAsync("/api/file", form, cancellationToken)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<FileId>(cancellationToken);
        Assert.Equal(data, await gateway.GetByteArrayAsync($"/api/file/{file!.Id}", cancellationToken));

        // S3, seeing the REST API's object.
        using var s3 = new AmazonS3Client(new BasicAWSCredentials(AccessKey, Secret), new AmazonS3Config { ServiceURL = gateway.BaseAddress!.ToString(), ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        using (var viaS3 = await s3.GetObjectAsync("objects", "aspire1", cancellationToken))
        {
            using var copy = new MemoryStream();
            await viaS3.ResponseStream.CopyToAsync(copy, cancellationToken);
            Assert.Equal(data, copy.ToArray());
        }

        // A Go build through the worker, then its uploads, then a build with an empty local tier served from the store.
        var module = GoToolchain.WriteModule(Path.Combine(sandbox.Path, "module"));
        var environment = GoToolchain.SandboxEnvironment(sandbox.Path, $"{GoToolchain.CacheProg} connect unix:{socket}", Path.Combine(sandbox.Path, "gocache-1"));
        await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", Path.Combine(sandbox.Path, "hello1"), "."], environment, TimeSpan.FromMinutes(5));
        using var worker = app.CreateHttpClient("cacheprog");
        while (!Regex.IsMatch(await worker.GetStringAsync("/stats", cancellationToken), @"[1-9][0-9]* uploads .* 0 queued"))
        {
            await Task.Delay(200, cancellationToken);
        }

        environment = GoToolchain.SandboxEnvironment(sandbox.Path, $"{GoToolchain.CacheProg} --dir {Path.Combine(sandbox.Path, "empty-local")} --endpoint {gateway.BaseAddress} --bucket gocache", Path.Combine(sandbox.Path, "gocache-2"));
        environment["S3_ACCESS_KEY_ID"] = AccessKey;
        environment["S3_SECRET_ACCESS_KEY"] = Secret;
        var second = await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", Path.Combine(sandbox.Path, "hello2"), "."], environment, TimeSpan.FromMinutes(5));
        Assert.Matches(@" 0 local hits, [1-9][0-9]* remote hits", second);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(sandbox.Path, "hello1"), cancellationToken), await File.ReadAllBytesAsync(Path.Combine(sandbox.Path, "hello2"), cancellationToken));
        Assert.Contains("gocache", (await s3.ListBucketsAsync(cancellationToken)).Buckets.Select(b => b.BucketName));
    }

    private sealed record FileId(string Id);
}
