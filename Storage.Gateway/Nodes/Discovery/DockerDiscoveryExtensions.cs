using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Storage.Gateway.Nodes.Discovery;

public static class DockerDiscoveryExtensions
{
    /// <summary>Binds and validates <c>Storage:Discovery:Docker</c>; with <c>Enabled=true</c>, runs the Docker discovery and its health check.</summary>
    public static IServiceCollection AddNodeDiscovery(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<DiscoveredNodes>();
        var section = configuration.GetSection(DockerDiscoveryOptions.Section);
        services.AddOptions<DockerDiscoveryOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        if (!section.GetValue<bool>(nameof(DockerDiscoveryOptions.Enabled)))
        {
            return services;
        }

        services.AddSingleton<DockerNodeDiscovery>();
        services.AddSingleton<INodeDiscovery>(sp => sp.GetRequiredService<DockerNodeDiscovery>());
        services.AddHostedService(sp => sp.GetRequiredService<DockerNodeDiscovery>());
        services.AddHealthChecks().AddCheck<DockerDiscoveryHealthCheck>("docker-discovery");
        return services;
    }
}

/// <summary>Degraded while discovery fails (the daemon away, mostly): the gateway serves the nodes it knows, but sees no new ones.</summary>
public sealed class DockerDiscoveryHealthCheck(DockerNodeDiscovery discovery) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(discovery.Problem is not null
            ? HealthCheckResult.Degraded("Docker discovery is failing; serving the nodes known (the gateway's log says why).")
            : HealthCheckResult.Healthy());
}
