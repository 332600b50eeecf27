using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Hosting;

/// <summary>Readiness: the metadata store answers.</summary>
public sealed class MetadataHealthCheck(IMetadataStore metadata) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await metadata.PingAsync(cancellationToken);
            return HealthCheckResult.Healthy("Metadata store reachable.");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("Metadata store unreachable.", ex);
        }
    }
}

/// <summary>Readiness: enough nodes are up to write (unhealthy) and to keep full protection (degraded otherwise).</summary>
public sealed class NodesHealthCheck(NodeRegistry registry, IOptions<StorageOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var settings = options.Value;
        var tolerance = NodeAdministration.Tolerance(registry.Available.Count, settings.DataShards, settings.ParityShards);
        var down = registry.All.Where(n => n.State == NodeState.Down).Select(n => n.Node.Id).ToArray();
        var detail = down.Length == 0 ? tolerance.Summary : $"{tolerance.Summary} Down: {string.Join(", ", down)}.";
        return Task.FromResult(
            !tolerance.WritesPossible ? HealthCheckResult.Unhealthy(detail)
            : tolerance.Reduced || down.Length > 0 ? HealthCheckResult.Degraded(detail)
            : HealthCheckResult.Healthy(detail));
    }
}
