using System.Net;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Faults;

/// <summary>
/// A read with no spare part left (6+2 with two nodes down) survives one live node's connection breaking mid-answer:
/// the part is read again on a fresh connection instead of failing the whole object.
/// </summary>
public sealed class TransientNodeFailureTests
{
    [Fact]
    public async Task A_response_cut_half_way_is_read_again_when_no_spare_part_is_left()
    {
        var servers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => S3Server.StartAsync()));
        await using var proxy = new ResponseCuttingProxy(servers[7].Port);
        try
        {
            var settings = servers.Select((s, i) => (Key: $"ConnectionStrings:node{i + 1}", Value: i == 7 ? s.ConnectionString.Replace($":{s.Port};", $":{proxy.Port};", StringComparison.Ordinal) : s.ConnectionString))
                .ToDictionary(p => p.Key, p => p.Value);

            // No probe between arming the proxy and the read: a cut probe would mark the node down instead.
            settings["Storage:Maintenance:NodeProbeInterval"] = "01:00:00";
            await using var gateway = await GatewayHost.StartAsync(settings);
            var data = TestData.Bytes(1_500_000, 7);
            (await gateway.Client.PutAsync("/object/cut", new ByteArrayContent(data))).EnsureSuccessStatusCode();

            await servers[0].StopAsync();
            await servers[1].StopAsync();
            await gateway.Service<NodeMonitor>().RefreshAsync(default);
            proxy.CutNextResponse();

            using var response = await gateway.Client.GetAsync("/object/cut");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(data, await response.Content.ReadAsByteArrayAsync());
            Assert.Equal(1, proxy.Dropped);
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }
}
