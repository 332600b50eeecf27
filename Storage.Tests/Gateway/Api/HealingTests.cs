using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

/// <summary>Healing rebuilds what a lost node held and spreads parts that were doubled up, restoring full protection.</summary>
public sealed class HealingTests : IAsyncDisposable
{
    private static readonly int[] Sizes = [0, 900, 70_000, 200_000, 1_000_000, 1_600_001, 4_000_000];
    private readonly TempDirectory _data = new("healing");

    public ValueTask DisposeAsync()
    {
        _data.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_lost_node_is_rebuilt_elsewhere_and_objects_then_survive_two_more_losses()
    {
        await using var gateway = await StartAsync(nodes: 9);
        var objects = await StoreAsync(gateway, count: 21);
        LoseNode("n1");
        await gateway.Service<NodeMonitor>().RefreshAsync(default);

        var report = await (await gateway.Client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(report.GetProperty("underProtectedObjects").GetInt64() > 0);
        Assert.True(report.GetProperty("partsRebuilt").GetInt64() > 0);
        Assert.Equal(0, report.GetProperty("stillUnderProtected").GetInt64());
        await AssertFullyProtectedAsync(gateway, lostNodes: ["n1"]);

        LoseNode("n2");
        LoseNode("n3");
        await gateway.Service<NodeMonitor>().RefreshAsync(default);
        await AssertReadBackAsync(gateway, objects);
    }

    [Fact]
    public async Task A_node_folder_found_empty_is_refilled_in_place_and_verified()
    {
        await using var gateway = await StartAsync(nodes: 8);
        var objects = await StoreAsync(gateway, count: 14);
        var expected = PartFiles("n4").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        LoseNode("n4");
        Directory.CreateDirectory(Path.Combine(_data.Path, "n4"));
        await gateway.Service<NodeMonitor>().RefreshAsync(default);

        var report = await (await gateway.Client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
        // The monitor also wakes the background healer, which may have rebuilt some parts before this pass looked.
        Assert.InRange(report.GetProperty("partsMissing").GetInt64(), 1, expected.Length);
        Assert.Contains("n4", report.GetProperty("nodesVerified").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(expected, PartFiles("n4").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        await AssertFullyProtectedAsync(gateway, lostNodes: []);

        LoseNode("n1");
        LoseNode("n8");
        await gateway.Service<NodeMonitor>().RefreshAsync(default);
        await AssertReadBackAsync(gateway, objects);
    }

    [Fact]
    public async Task Parts_doubled_up_while_nodes_were_down_are_spread_out_when_they_return()
    {
        await using var gateway = await StartAsync(nodes: 8);
        Directory.Move(Path.Combine(_data.Path, "n7"), Path.Combine(_data.Path, "n7-away"));
        Directory.Move(Path.Combine(_data.Path, "n8"), Path.Combine(_data.Path, "n8-away"));
        await gateway.Service<NodeMonitor>().RefreshAsync(default);
        var objects = await StoreAsync(gateway, count: 14);

        var degraded = await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health");
        Assert.Equal("degraded", degraded.GetProperty("status").GetString());

        Directory.Move(Path.Combine(_data.Path, "n7-away"), Path.Combine(_data.Path, "n7"));
        Directory.Move(Path.Combine(_data.Path, "n8-away"), Path.Combine(_data.Path, "n8"));
        await gateway.Service<NodeMonitor>().RefreshAsync(default);
        var report = await (await gateway.Client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(report.GetProperty("partsRebuilt").GetInt64() > 0);
        await AssertFullyProtectedAsync(gateway, lostNodes: []);

        var healthy = await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health");
        Assert.Equal("healthy", healthy.GetProperty("status").GetString());
        Assert.Equal(0, healthy.GetProperty("underProtectedObjects").GetInt64());

        LoseNode("n2");
        LoseNode("n5");
        await gateway.Service<NodeMonitor>().RefreshAsync(default);
        await AssertReadBackAsync(gateway, objects);
    }

    private async Task<GatewayHost> StartAsync(int nodes)
    {
        var settings = Enumerable.Range(1, nodes).ToDictionary(i => $"Storage:Nodes:n{i}", i => Path.Combine(_data.Path, $"n{i}"));
        settings["Storage:Maintenance:HealAfter"] = "00:00:00";
        return await GatewayHost.StartAsync(settings, Path.Combine(_data.Path, "gateway"));
    }

    private static async Task<Dictionary<string, byte[]>> StoreAsync(GatewayHost gateway, int count)
    {
        var objects = new Dictionary<string, byte[]>();
        for (var i = 0; i < count; i++)
        {
            var data = TestData.Bytes(Sizes[i % Sizes.Length], i);
            (await gateway.Client.PutAsync($"/object/h{i}", new ByteArrayContent(data))).EnsureSuccessStatusCode();
            objects[$"h{i}"] = data;
        }

        return objects;
    }

    private string[] PartFiles(string node) => Directory.GetFiles(Path.Combine(_data.Path, node, "parts"), "*", SearchOption.AllDirectories);

    private void LoseNode(string node) => Directory.Delete(Path.Combine(_data.Path, node), recursive: true);

    private static async Task AssertReadBackAsync(GatewayHost gateway, Dictionary<string, byte[]> objects)
    {
        foreach (var (id, data) in objects)
        {
            using var response = await gateway.Client.GetAsync($"/object/{id}");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{id}: {response.StatusCode}");
            Assert.Equal(data, await response.Content.ReadAsByteArrayAsync());
        }
    }

    /// <summary>Every segment has all its parts on distinct nodes, none of them lost.</summary>
    private static async Task AssertFullyProtectedAsync(GatewayHost gateway, string[] lostNodes)
    {
        await foreach (var record in gateway.Service<IMetadataStore>().AllObjectsAsync(default))
        {
            foreach (var segment in record.Segments)
            {
                Assert.Equal(segment.Nodes.Count, segment.Nodes.Distinct().Count());
                Assert.DoesNotContain(segment.Nodes, lostNodes.Contains);
            }
        }
    }
}
