using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Faults;

/// <summary>
/// Gateway processes over Redis and s3rver node processes, with nodes killed (SIGKILL), restarted, and restarted
/// empty (a replaced disk): what an operator sees in /admin and what happens to the data.
/// </summary>
public sealed class NodeRecoveryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_gateway_starts_while_a_node_is_down_reports_it_down_and_uses_it_once_it_answers()
    {
        await using var cluster = await StorageCluster.StartAsync(8);
        await cluster.Nodes["node3"].StopAsync();
        await using var gateway = await cluster.StartGatewayAsync();

        Assert.Equal("down", await NodeStateAsync(gateway, "node3"));
        var data = TestData.Bytes(900_000, 1);
        (await gateway.Client.PutAsync("/object/whiledown", new ByteArrayContent(data))).EnsureSuccessStatusCode();

        await cluster.Nodes["node3"].RestartAsync();
        await WaitUntilAsync(async () => await NodeStateAsync(gateway, "node3") == "up", "node3 to be reported up again");
        (await gateway.Client.PutAsync("/object/after", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        Assert.Equal(data, await gateway.Client.GetByteArrayAsync("/object/whiledown"));
    }

    [Fact]
    public async Task A_node_back_with_an_empty_disk_is_found_out_and_refilled_at_once_so_two_more_losses_are_survived()
    {
        // Scheduled healing is far away: only the detection of the emptied node can start it.
        await using var cluster = await StorageCluster.StartAsync(8, new Dictionary<string, string> { ["Storage:Maintenance:HealInterval"] = "01:00:00" });
        await using var gateway = await cluster.StartGatewayAsync();
        var objects = await StoreAsync(gateway, 24);
        Assert.Empty(await cluster.MissingPartsAsync());

        await cluster.Nodes["node5"].RestartEmptyAsync();
        await WaitUntilAsync(async () => (await cluster.MissingPartsAsync()).Count == 0, "every part of node5 to be rebuilt on it");
        var health = await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health");
        Assert.Contains("node5", health.GetProperty("lastHeal").GetProperty("nodesVerified").EnumerateArray().Select(n => n.GetString()));
        Assert.True(health.GetProperty("lastHeal").GetProperty("partsMissing").GetInt64() > 0);

        await cluster.Nodes["node1"].StopAsync();
        await cluster.Nodes["node8"].StopAsync();
        foreach (var (id, sha) in objects)
        {
            Assert.Equal(sha, SHA256.HashData(await gateway.Client.GetByteArrayAsync($"/object/{id}")));
        }
    }

    [Fact]
    public async Task A_part_a_read_finds_missing_on_a_live_node_is_restored_there()
    {
        await using var cluster = await StorageCluster.StartAsync(8);
        await using var gateway = await cluster.StartGatewayAsync();
        var data = TestData.Bytes(2_000_000, 5);
        (await gateway.Client.PutAsync("/object/readrepair", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        var segment = (await cluster.ObjectsAsync()).Single(o => o.Key == "readrepair").Segments.Single();
        var node = new Storage.Gateway.Nodes.S3Node(segment.Nodes[0], Storage.Gateway.Nodes.S3NodeOptions.Parse(cluster.Nodes[segment.Nodes[0]].ConnectionString));
        await node.DeleteAsync(Storage.Gateway.Nodes.PartKeys.For(segment.Id, 0), default);
        Assert.Single(await cluster.MissingPartsAsync());

        Assert.Equal(data, await gateway.Client.GetByteArrayAsync("/object/readrepair"));
        await WaitUntilAsync(async () => (await cluster.MissingPartsAsync()).Count == 0, "the part the read found missing to be restored");
        node.Dispose();
    }

    [Fact]
    public async Task Health_reports_the_worst_case_of_the_objects_stored_when_two_nodes_are_down()
    {
        await using var cluster = await StorageCluster.StartAsync(8);
        await using var gateway = await cluster.StartGatewayAsync();
        var objects = await StoreAsync(gateway, 12);
        var healthy = await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health");
        Assert.Equal(("healthy", 2, 0L), (healthy.GetProperty("status").GetString(), healthy.GetProperty("failuresTolerated").GetInt32(), healthy.GetProperty("underProtectedObjects").GetInt64()));

        await cluster.Nodes["node2"].StopAsync();
        await cluster.Nodes["node6"].StopAsync();
        await WaitUntilAsync(async () => (await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health")).GetProperty("nodesDown").GetArrayLength() == 2, "both nodes to be reported down");
        var degraded = await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health");
        Assert.Equal("degraded", degraded.GetProperty("status").GetString());

        // Every object spans all eight nodes (striped: 8 parts; replicated: 3 copies, some on the dead nodes).
        var records = await cluster.ObjectsAsync();
        var affected = records.Where(r => r.Bucket == "objects" && r.Segments.Any(s => s.Nodes.Contains("node2") || s.Nodes.Contains("node6"))).ToArray();
        Assert.Equal(0, degraded.GetProperty("failuresTolerated").GetInt32());
        Assert.Equal(affected.Length, degraded.GetProperty("underProtectedObjects").GetInt64());
        Assert.Equal(affected.Sum(r => r.Size), degraded.GetProperty("underProtectedBytes").GetInt64());
        Assert.Equal(0, degraded.GetProperty("unreadableObjects").GetInt64());
        Assert.Equal(objects.Count, records.Count(r => r.Bucket == "objects"));
    }

    /// <summary>Objects of mixed sizes (replicated and striped), by id with their SHA-256.</summary>
    internal static async Task<Dictionary<string, byte[]>> StoreAsync(GatewayProcess gateway, int count)
    {
        var objects = new Dictionary<string, byte[]>();
        for (var i = 0; i < count; i++)
        {
            var data = TestData.Bytes(i % 3 == 0 ? 40_000 + i : 700_000 + (i * 1000), 100 + i);
            (await gateway.Client.PutAsync($"/object/o{i}", new ByteArrayContent(data))).EnsureSuccessStatusCode();
            objects[$"o{i}"] = SHA256.HashData(data);
        }

        return objects;
    }

    internal static Task WaitUntilAsync(Func<Task<bool>> condition, string what) => Poll.UntilAsync(condition, Patience, what);

    private static async Task<string?> NodeStateAsync(GatewayProcess gateway, string node)
    {
        using var response = await gateway.Client.GetAsync("/admin/nodes");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var nodes = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("nodes");
        return nodes.EnumerateArray().Single(n => n.GetProperty("id").GetString() == node).GetProperty("state").GetString();
    }
}
