using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Gateway.Nodes.Discovery;
using Storage.Tests.Aspire;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Nodes.Discovery;

/// <summary>
/// The gateway finding its MinIO nodes in a real Docker daemon: the local MinIO stand-in image in containers on a
/// user-defined network, the gateway as a process on the host reaching them at their container addresses.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed class DockerDiscoveryTests(ITestOutputHelper output)
{
    private static readonly (string, string) Keys = ("node-user", "node-secret-0123");

    [Fact]
    public async Task Node_containers_are_found_join_live_go_down_and_outlive_the_daemon_going_away()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var docker = await NodeContainersAsync(cancellationToken);
        var first = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            first.Add(await docker.RunNodeAsync($"{i}", Keys));
        }

        var keyless = await docker.RunNodeAsync("keyless", keys: null);
        await using var daemon = new DockerSocketProxy();
        await using var gateway = await DiscoveringGatewayAsync(docker, daemon, dataShards: 2, parityShards: 1);

        try
        {
            // Exactly the three with keys, under ids from their names; the keyless one refused in one clear line.
            await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Count(n => n.State == "up") == 3, TimeSpan.FromSeconds(20), "the three nodes up");
            Assert.Equal(first.Select(DockerNodeContainer.NodeIdFor).Order(), (await NodesAsync(gateway)).Select(n => n.Id).Order());
            Assert.Contains(gateway.Output, line => line.Contains($"Container {keyless} is not used as a node", StringComparison.Ordinal) && line.Contains("MINIO_ROOT_USER", StringComparison.Ordinal));
            var body = TestData.Bytes(300_000, seed: 12);
            await PutAsync(gateway, "kept", body);
            Assert.Equal(body, await gateway.Client.GetByteArrayAsync("/object/kept", cancellationToken));

            // A fourth container joins while the gateway runs, and new objects put parts on it.
            var joining = Stopwatch.StartNew();
            var fourth = DockerNodeContainer.NodeIdFor(await docker.RunNodeAsync("4", Keys));
            await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Any(n => n.Id == fourth && n.State == "up"), TimeSpan.FromSeconds(20), "the fourth node up");
            var up = joining.Elapsed;
            var puts = 0;
            await Poll.UntilAsync(
                async () =>
                {
                    await PutAsync(gateway, $"spread{puts++}", TestData.Bytes(5000, puts));
                    return (await NodesAsync(gateway)).Single(n => n.Id == fourth).PartCount > 0;
                },
                TimeSpan.FromSeconds(20),
                "a part on the fourth node");
            output.WriteLine($"fourth node: up {up.TotalSeconds:0.00} s after docker run, first part {joining.Elapsed.TotalSeconds:0.00} s ({puts} PUTs)");

            // A stopped container is reported down at once; reads still succeed from the other parts.
            var stopped = first[1];
            await DockerContainers.StopAsync(stopped);
            await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Single(n => n.Id == DockerNodeContainer.NodeIdFor(stopped)).State == "down", TimeSpan.FromSeconds(5), "the stopped node down");

            // Held down as a stopped container (its old address is not probed), not merely failing probes there.
            Assert.Contains("stopped", (await NodesAsync(gateway)).Single(n => n.Id == DockerNodeContainer.NodeIdFor(stopped)).LastError, StringComparison.Ordinal);
            Assert.Equal(body, await gateway.Client.GetByteArrayAsync("/object/kept", cancellationToken));

            // The daemon goes away: the gateway keeps serving, and finds what started meanwhile once the daemon is back.
            await daemon.CutAsync();
            var fifth = DockerNodeContainer.NodeIdFor(await docker.RunNodeAsync("5", Keys));
            await Poll.UntilAsync(() => Task.FromResult(gateway.Output.Any(l => l.Contains("Docker discovery at", StringComparison.Ordinal) && l.Contains("retrying", StringComparison.Ordinal))), TimeSpan.FromSeconds(10), "the lost daemon reported");
            await PutAsync(gateway, "whileaway", body);
            Assert.Equal(body, await gateway.Client.GetByteArrayAsync("/object/whileaway", cancellationToken));
            Assert.DoesNotContain(await NodesAsync(gateway), n => n.Id == fifth);
            daemon.Restore();
            await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Any(n => n.Id == fifth && n.State == "up"), TimeSpan.FromSeconds(20), "the fifth node found after the daemon came back");
            // Logged once the whole look is done, so a moment after the fifth node is already served.
            await Poll.UntilAsync(() => Task.FromResult(gateway.Output.Any(l => l.Contains("answers again", StringComparison.Ordinal))), TimeSpan.FromSeconds(5), "the daemon's return reported");

            // Docker gives a stopped container's address to the next one (the fifth, usually): nothing of the stopped
            // node may be looked for there, or its identity would be written onto the newcomer.
            Assert.DoesNotContain(gateway.Output, l => l.Contains("answered without the data of epoch", StringComparison.Ordinal) || l.Contains("it holds the data of node", StringComparison.Ordinal));

            Assert.DoesNotContain(gateway.Output, l => l.Contains(Keys.Item2, StringComparison.Ordinal));
            Assert.False(gateway.HasExited);
        }
        catch
        {
            // What the gateway said explains most failures here; it is only shown when the test fails.
            foreach (var line in gateway.Output.TakeLast(80))
            {
                output.WriteLine(line);
            }

            throw;
        }
    }

    [Fact]
    public async Task A_gateway_started_while_the_daemon_is_away_serves_and_finds_its_nodes_when_the_daemon_answers()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var docker = await NodeContainersAsync(cancellationToken);
        var node = DockerNodeContainer.NodeIdFor(await docker.RunNodeAsync("1", Keys));
        await using var daemon = new DockerSocketProxy();
        await daemon.CutAsync();
        await using var gateway = await DiscoveringGatewayAsync(docker, daemon, dataShards: 1, parityShards: 0);

        // Up, without nodes (no default folders either): writes are refused with a reason, not a crash.
        Assert.Empty(await NodesAsync(gateway));
        using (var refused = await gateway.Client.PutAsync("/object/early", new ByteArrayContent([1, 2, 3]), cancellationToken))
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        daemon.Restore();
        await Poll.UntilAsync(async () => (await NodesAsync(gateway)).Any(n => n.Id == node && n.State == "up"), TimeSpan.FromSeconds(20), "the node found once the daemon answers");
        var body = TestData.Bytes(5000, seed: 3);
        await PutAsync(gateway, "late", body);
        Assert.Equal(body, await gateway.Client.GetByteArrayAsync("/object/late", cancellationToken));
    }

    [Theory]
    [InlineData("/amazin-object-storage-node-1", "amazin-object-storage-node-1")]
    [InlineData("/store_amazin-object-storage-node-2_1", "store_amazin-object-storage-node-2_1")]
    [InlineData("/a.b:c", "a-b-c")]
    public void A_container_name_is_its_node_id_with_what_an_id_cannot_hold_replaced(string name, string id) =>
        Assert.Equal(id, DockerNodeContainer.NodeIdFor(name));

    [Fact]
    public void A_long_container_name_keeps_its_start_and_a_hash_of_the_whole_name()
    {
        var a = DockerNodeContainer.NodeIdFor("/" + new string('n', 70) + "-a");
        var b = DockerNodeContainer.NodeIdFor("/" + new string('n', 70) + "-b");
        Assert.Equal(64, a.Length);
        Assert.NotEqual(a, b);
        Assert.StartsWith(new string('n', 50), a, StringComparison.Ordinal);
    }

    /// <summary>Skips, loudly, without an engine; else the stand-in image built and a network for this test's nodes.</summary>
    private static async Task<DockerContainers> NodeContainersAsync(CancellationToken cancellationToken)
    {
        await DockerContainers.RequireEngineAsync(cancellationToken);
        await StandInImages.EnsureBuiltAsync();
        var docker = new DockerContainers("amazin-object-storage-node");
        await docker.CreateNetworkAsync();
        return docker;
    }

    /// <summary>A gateway process on the host finding this test's containers through the socket proxy.</summary>
    private static Task<GatewayProcess> DiscoveringGatewayAsync(DockerContainers docker, DockerSocketProxy daemon, int dataShards, int parityShards) =>
        GatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["Storage__Discovery__Docker__Enabled"] = "true",
            ["Storage__Discovery__Docker__NameContains"] = docker.Prefix,
            ["Storage__Discovery__Docker__Endpoint"] = daemon.Endpoint.ToString(),
            ["Storage__Discovery__Docker__MaxRetryDelay"] = "00:00:01",
            ["Storage__DataShards"] = dataShards.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Storage__ParityShards"] = parityShards.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Storage__Maintenance__NodeProbeInterval"] = "00:00:01",
            // Everything the discovery says, down to each event, so that the key check sees all of it.
            ["Logging__LogLevel__Storage.Gateway.Nodes.Discovery"] = "Debug",
        });

    internal static async Task PutAsync(GatewayProcess gateway, string id, byte[] body)
    {
        using var response = await gateway.Client.PutAsync($"/object/{id}", new ByteArrayContent(body));
        Assert.True(response.IsSuccessStatusCode, $"PUT {id}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    internal static async Task<IReadOnlyList<NodeEntry>> NodesAsync(GatewayProcess gateway) =>
        (await gateway.Client.GetFromJsonAsync<NodeList>("/admin/nodes", Json))!.Nodes;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal sealed record NodeList(IReadOnlyList<NodeEntry> Nodes);

    internal sealed record NodeEntry(string Id, string State, long PartCount, string? LastError);
}
