using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

public sealed class HealthEndpointTests : GatewayTest
{
    [Fact]
    public async Task Health_reports_every_dependency_and_alive_only_the_process()
    {
        Assert.Equal("Production", Gateway.App.Environment.EnvironmentName);
        var health = await Gateway.Client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        var checks = health.GetProperty("checks");
        Assert.Equal("Healthy", checks.GetProperty("metadata").GetProperty("status").GetString());
        Assert.Equal("Healthy", checks.GetProperty("nodes").GetProperty("status").GetString());
        Assert.True(checks.TryGetProperty("self", out _));

        var alive = await Gateway.Client.GetFromJsonAsync<JsonElement>("/alive");
        Assert.Equal(["self"], alive.GetProperty("checks").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task A_lost_node_makes_health_degraded_but_still_ready()
    {
        Directory.Delete(Gateway.NodePath("node5"), recursive: true);
        await Gateway.Service<Storage.Gateway.Nodes.NodeMonitor>().RefreshAsync(default);
        using var response = await Gateway.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Degraded", health.GetProperty("status").GetString());
        Assert.Contains("node5", health.GetProperty("checks").GetProperty("nodes").GetProperty("description").GetString(), StringComparison.Ordinal);
    }
}
