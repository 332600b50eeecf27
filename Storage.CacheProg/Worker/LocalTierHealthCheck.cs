using Microsoft.Extensions.Diagnostics.HealthChecks;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>Healthy while the local tier's folder is writable; reports uploads waiting.</summary>
public sealed class LocalTierHealthCheck(CacheService cache) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var probe = cache.Local.NewTemporaryPath();
        try
        {
            await File.WriteAllBytesAsync(probe, [1], cancellationToken);
            File.Delete(probe);
            return HealthCheckResult.Healthy($"{cache.PendingUploads} uploads pending", new Dictionary<string, object> { ["pendingUploads"] = cache.PendingUploads });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return HealthCheckResult.Unhealthy($"The local tier at {cache.Local.Root} is not writable: {ex.Message}");
        }
    }
}
