using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Aspire;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Deploy;

/// <summary>
/// compose.yaml run as a user runs it, on the real engine: the gateway as a container on the project's network finding
/// the node containers by itself, Redis with its append-only file, S3 on the published port. No registry is reachable
/// here, so the images are the local stand-ins (the gateway's is this build on this machine's .NET runtime), set
/// through the compose file's image variables; the Dockerfile's own build (mcr.microsoft.com images) cannot run here.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed class ComposeFileTests(ITestOutputHelper output)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task Compose_up_serves_s3_from_the_discovered_nodes_and_a_second_gateway_shares_them()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await DockerContainers.RequireEngineAsync(cancellationToken);
        var compose = await ComposeCommandAsync();
        await StandInImages.EnsureBuiltAsync();
        await StandInImages.EnsureGatewayBuiltAsync();

        var project = $"st{Guid.NewGuid():N}"[..10];
        var adminKey = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        var port = ServerProcess.FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["STORAGE_GATEWAY_IMAGE"] = StandInImages.Gateway,
            ["STORAGE_MINIO_IMAGE"] = StandInImages.Minio,
            ["STORAGE_REDIS_IMAGE"] = StandInImages.Redis,
            ["STORAGE_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["STORAGE_ADMIN_KEY"] = adminKey,
        };
        string[] composeFile = [.. compose.Arguments, "--project-name", project, "--file", Path.Combine(Repository.Root, "compose.yaml")];
        await using var extra = new DockerContainers("extra");
        try
        {
            await CommandLine.RunCheckedAsync(compose.File, [.. composeFile, "up", "--detach"], environment, TimeSpan.FromMinutes(3));
            using var first = AdminClient(new Uri($"http://127.0.0.1:{port}"), adminKey);
            await Poll.UntilAsync(async () => await TryNodesAsync(first) is { } seen && seen.Count(n => n.State == "up") == 4, TimeSpan.FromSeconds(60), "the four compose nodes up");
            var nodes = (await NodesAsync(first)).Select(n => n.Id).Order().ToArray();
            Assert.All(nodes, id => Assert.Contains("amazin-object-storage-node-", id, StringComparison.Ordinal));

            // S3 with the key pair the gateway generated into its data volume, as the compose file's comment says.
            var gatewayContainer = (await CommandLine.RunCheckedAsync(compose.File, [.. composeFile, "ps", "--quiet", "gateway"], environment, TimeSpan.FromMinutes(1))).Trim();
            using var credentialsFolder = new TempDirectory("compose-credentials");
            var credentialsFile = Path.Combine(credentialsFolder.Path, "s3-credentials.json");
            await DockerContainers.DockerAsync("cp", $"{gatewayContainer}:/data/s3-credentials.json", credentialsFile);
            var credentials = JsonSerializer.Deserialize<GeneratedCredentials>(await File.ReadAllTextAsync(credentialsFile, cancellationToken), Json)!;
            var body = TestData.Bytes(2 * 1024 * 1024 + 17, seed: 5);
            using (var s3 = S3Client(new Uri($"http://127.0.0.1:{port}"), credentials))
            {
                await s3.PutBucketAsync("compose", cancellationToken);
                await s3.PutObjectAsync(new PutObjectRequest { BucketName = "compose", Key = "a/b.bin", InputStream = new MemoryStream(body) }, cancellationToken);
                Assert.Equal(body, await ReadAsync(s3, "compose", "a/b.bin", cancellationToken));
            }

            // A second gateway on the project's network, sharing Redis: the same nodes, the same objects.
            var network = $"{project}_default";
            await DockerContainers.DockerAsync(
                "run", "--detach", "--name", $"{extra.Prefix}-gateway", "--network", network, "--volume", "/var/run/docker.sock:/var/run/docker.sock",
                "--env", "ConnectionStrings__redis=redis:6379", "--env", "Storage__DataShards=2", "--env", "Storage__ParityShards=2",
                "--env", $"Storage__AdminKey={adminKey}", "--env", $"Storage__S3__Credentials__0__AccessKey={credentials.AccessKey}",
                "--env", $"Storage__S3__Credentials__0__SecretKey={credentials.SecretKey}", "--env", "Storage__S3__Credentials__0__Administrator=true", StandInImages.Gateway);
            extra.Track($"{extra.Prefix}-gateway");
            var secondAddress = (await DockerContainers.DockerAsync("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", $"{extra.Prefix}-gateway")).Trim();
            using var second = AdminClient(new Uri($"http://{secondAddress}:3000"), adminKey);
            await Poll.UntilAsync(async () => await TryNodesAsync(second) is { } seen && seen.Count(n => n.State == "up") == 4, TimeSpan.FromSeconds(60), "the second gateway's four nodes up");
            Assert.Equal(nodes, (await NodesAsync(second)).Select(n => n.Id).Order());
            using (var s3 = S3Client(new Uri($"http://{secondAddress}:3000"), credentials))
            {
                Assert.Equal(body, await ReadAsync(s3, "compose", "a/b.bin", cancellationToken));
            }

            // A node started by hand on the project's network joins both.
            var fifth = await RunNodeAsync(extra, network);
            foreach (var gateway in new[] { first, second })
            {
                await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Any(n => n.Id == fifth && n.State == "up"), TimeSpan.FromSeconds(30), $"node {fifth} up at {gateway.BaseAddress}");
            }
        }
        catch
        {
            output.WriteLine((await CommandLine.RunAsync(compose.File, [.. composeFile, "logs", "--tail", "60", "gateway"], environment, TimeSpan.FromMinutes(1))).Output);
            throw;
        }
        finally
        {
            // The hand-started containers first: the project's network cannot go while they are on it.
            await extra.DisposeAsync();
            await CommandLine.RunAsync(compose.File, [.. composeFile, "down", "--volumes", "--timeout", "1"], environment, TimeSpan.FromMinutes(3));
        }
    }

    /// <summary>The compose plugin when the engine has it, else Debian's docker-compose; skips, loudly, with neither.</summary>
    private static async Task<(string File, string[] Arguments)> ComposeCommandAsync()
    {
        if ((await CommandLine.RunAsync("docker", ["compose", "version"], new Dictionary<string, string?>(), TimeSpan.FromMinutes(1))).ExitCode == 0)
        {
            return ("docker", ["compose"]);
        }

        if (Storage.AppHost.Executables.Find("docker-compose") is { } legacy)
        {
            return (legacy, []);
        }

        Assert.Skip("COMPOSE TEST NOT RUN: neither 'docker compose' nor 'docker-compose' is installed (.ci/test.sh installs docker-compose).");
        return default;
    }

    private static async Task<string> RunNodeAsync(DockerContainers containers, string network)
    {
        var name = $"{containers.Prefix}-amazin-object-storage-node-5";
        await DockerContainers.DockerAsync("run", "--detach", "--init", "--name", name, "--network", network, "--env", "MINIO_ROOT_USER=storage-node", "--env", "MINIO_ROOT_PASSWORD=change-this-node-secret", StandInImages.Minio);
        containers.Track(name);
        return Storage.Gateway.Nodes.Discovery.DockerNodeContainer.NodeIdFor(name);
    }

    private static HttpClient AdminClient(Uri address, string adminKey)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
        return client;
    }

    private static AmazonS3Client S3Client(Uri address, GeneratedCredentials credentials) =>
        new(new BasicAWSCredentials(credentials.AccessKey, credentials.SecretKey), new AmazonS3Config
        {
            ServiceURL = address.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            Timeout = TimeSpan.FromMinutes(1),
        });

    private static async Task<byte[]> ReadAsync(AmazonS3Client s3, string bucket, string key, CancellationToken cancellationToken)
    {
        using var response = await s3.GetObjectAsync(bucket, key, cancellationToken);
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy, cancellationToken);
        return copy.ToArray();
    }

    private static async Task<IReadOnlyList<NodeEntry>> NodesAsync(HttpClient gateway) =>
        (await gateway.GetFromJsonAsync<NodeList>("/admin/nodes", Json))!.Nodes;

    /// <summary>Null while the gateway does not answer yet (starting, or restarting until Redis answers).</summary>
    private static async Task<IReadOnlyList<NodeEntry>?> TryNodesAsync(HttpClient gateway)
    {
        try
        {
            return await NodesAsync(gateway);
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException)
        {
            return null;
        }
    }

    private sealed record GeneratedCredentials(string AccessKey, string SecretKey);

    private sealed record NodeList(IReadOnlyList<NodeEntry> Nodes);

    private sealed record NodeEntry(string Id, string State);
}
