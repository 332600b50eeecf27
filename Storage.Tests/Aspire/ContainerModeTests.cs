using Storage.AppHost;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Aspire;

/// <summary>
/// The AppHost with containers, as users get it: MinIO and Redis containers with named volumes on the orchestrator's
/// network, health checks and connection strings. No registry is reachable here, so the images are the local
/// stand-ins built from this machine's binaries (.ci/stand-ins/build-images.sh), set through the AppHost's image settings.
/// </summary>
[Collection(AspireCollection.Name)]
public sealed class ContainerModeTests
{
    [Fact]
    public async Task The_topology_in_containers_serves_every_api_caches_go_builds_and_grows_by_a_node()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var engine = await ContainerEngine.ProbeAsync(Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME") ?? "docker", cancellationToken);
        if (!engine.Answers)
        {
            Assert.Skip($"CONTAINER MODE NOT RUN: no container engine answers ({engine.Detail}). .ci/test.sh installs docker.io and starts dockerd; run it, or start Docker.");
        }

        await StandInImages.EnsureBuiltAsync();
        using var sandbox = new TempDirectory("apphost-containers");
        var prefix = $"storage-test-{Guid.NewGuid():N}"[..24];
        try
        {
            await TopologyScenario.RunAsync(new TopologyRun(TopologyMode.Containers, sandbox.Path, VolumePrefix: prefix), "apphost-containers", cancellationToken);
        }
        finally
        {
            await StandInImages.RemoveVolumesAsync(prefix);
        }
    }
}
