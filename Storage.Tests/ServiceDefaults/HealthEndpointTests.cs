using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

public sealed class HealthEndpointTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayHost.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Health_reports_every_dependency_and_alive_only_the_process()
    {
        Assert.Equal("Production", _gateway.App.Environment.EnvironmentName);
        var health = await _gateway.Client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        var checks = health.GetProperty("checks");
        Assert.Equal("Healthy", checks.GetProperty("metadata").GetProperty("status").GetString());
        Assert.Equal("Healthy", checks.GetProperty("nodes").GetProperty("status").GetString());
        Assert.True(checks.TryGetProperty("self", out _));

        var alive = await _gateway.Client.GetFromJsonAsync<JsonElement>("/alive");
        Assert.Equal(["self"], alive.GetProperty("checks").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task A_lost_node_makes_health_degraded_but_still_ready()
    {
        Directory.Delete(_gateway.NodePath("node5"), recursive: true);
        await _gateway.Service<Storage.Gateway.Nodes.NodeMonitor>().RefreshAsync(default);
        using var response = await _gateway.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Degraded", health.GetProperty("status").GetString());
        Assert.Contains("node5", health.GetProperty("checks").GetProperty("nodes").GetProperty("description").GetString(), StringComparison.Ordinal);
    }
}
