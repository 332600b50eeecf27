using System.Net;
using System.Security.Cryptography;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Placement;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Objects;

/// <summary>
/// Storage nodes (real s3rver processes) killed with SIGKILL while a PUT is writing its parts: the write either
/// completes with every part durable on distinct live nodes, or answers 503 with the reason and stores nothing.
/// </summary>
public sealed class NodeFailureDuringWriteTests : IAsyncLifetime
{
    private const long Size = 20L * 1024 * 1024;
    private S3NodeCluster _nodes = null!;
    private GatewayHost _gateway = null!;

    public async ValueTask InitializeAsync()
    {
        _nodes = await S3NodeCluster.StartAsync(9);
        _gateway = await GatewayHost.StartAsync(_nodes.Settings);
    }

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _nodes.DisposeAsync();
    }

    [Fact]
    public async Task A_node_killed_mid_put_has_its_part_rebuilt_on_the_spare_node_and_the_put_succeeds()
    {
        var placed = Placement("big");
        var victim = placed[2];
        var body = new GatedContent(Size, 7, pauseAfter: 6 * 1024 * 1024);
        var put = _gateway.Client.PutAsync("/object/big", body);
        await body.Paused;
        await _nodes[victim].StopAsync();
        body.Resume();

        using var response = await put;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stored = (await _gateway.Service<IMetadataStore>().GetObjectAsync("objects", "big", default))!.Segments.Single();
        Assert.DoesNotContain(victim, stored.Nodes);
        Assert.Equal(8, stored.Nodes.Distinct().Count());
        Assert.Equal(body.Sha256(), SHA256.HashData(await _gateway.Client.GetByteArrayAsync("/object/big")));

        // Full protection, not just readable: two more of its nodes can go and it is still served exactly.
        await _nodes[stored.Nodes[0]].StopAsync();
        await _nodes[stored.Nodes[5]].StopAsync();
        await _gateway.Service<NodeMonitor>().RefreshAsync(default);
        Assert.Equal(body.Sha256(), SHA256.HashData(await _gateway.Client.GetByteArrayAsync("/object/big")));
    }

    [Fact]
    public async Task Without_a_spare_node_a_node_dying_mid_put_is_a_503_with_the_reason_and_nothing_is_stored()
    {
        var placed = Placement("nospare");
        var spare = Enumerable.Range(0, 9).Select(S3NodeCluster.NodeId).Except(placed).Single();
        await _nodes[spare].StopAsync();
        await _gateway.Service<NodeMonitor>().RefreshAsync(default);

        var body = new GatedContent(Size, 8, pauseAfter: 6 * 1024 * 1024);
        var put = _gateway.Client.PutAsync("/object/nospare", body);
        await body.Paused;
        await _nodes[placed[4]].StopAsync();
        body.Resume();

        using var response = await put;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Contains(placed[4], problem);
        Assert.Contains("No spare node", problem);
        Assert.Equal(HttpStatusCode.NotFound, (await _gateway.Client.GetAsync("/object/nospare")).StatusCode);
    }

    [Fact]
    public async Task More_nodes_dying_mid_put_than_there_are_parity_parts_is_a_503_and_nothing_is_stored()
    {
        var placed = Placement("toomany");
        var body = new GatedContent(Size, 9, pauseAfter: 6 * 1024 * 1024);
        var put = _gateway.Client.PutAsync("/object/toomany", body);
        await body.Paused;
        foreach (var node in placed.Take(3))
        {
            await _nodes[node].StopAsync();
        }

        body.Resume();
        using var response = await put;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("failed while storing a part", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _gateway.Client.GetAsync("/object/toomany")).StatusCode);
    }

    /// <summary>The nodes the gateway will write this object id's parts to (placement is deterministic for an id and the current fill).</summary>
    private string[] Placement(string id) => _gateway.Service<PlacementService>().Choose($"objects/{id}", 8, 6);
}
