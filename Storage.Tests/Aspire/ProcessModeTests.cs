using Storage.Tests.Fixtures;

namespace Storage.Tests.Aspire;

/// <summary>The AppHost without containers: Redis from redis-server, every node a local minio (stand-in) process.</summary>
[Collection(AspireCollection.Name)]
public sealed class ProcessModeTests
{
    [Fact]
    public async Task The_topology_in_processes_serves_every_api_caches_go_builds_and_grows_by_a_node()
    {
        using var sandbox = new TempDirectory("apphost-processes");
        await TopologyScenario.RunAsync(new TopologyRun(TopologyMode.Processes, sandbox.Path), "apphost-processes", TestContext.Current.CancellationToken);
    }
}
