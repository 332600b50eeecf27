using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Storage.ServiceDefaults.Discovery;
using Storage.ServiceDefaults.Health;
using Storage.ServiceDefaults.Resilience;
using Storage.ServiceDefaults.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What Aspire's ServiceDefaults template gives a service — telemetry, health, service discovery and
/// resilience — built from the OpenTelemetry SDK, ASP.NET Core health checks and Polly, because the
/// template's own packages are not available on this machine's mirror (see docs/architecture.md).
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.AddOpenTelemetryExport();
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [HealthTags.Live]);
        builder.Services.AddServiceEndpointResolver();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilience();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    /// <summary>Maps /health (every check: readiness) and /alive (checks tagged live) in every environment.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseRequestTracing(HealthPath, AlivePath);
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = HealthResponseWriter.WriteJsonAsync });
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Live),
            ResponseWriter = HealthResponseWriter.WriteJsonAsync,
        });
        return app;
    }
}
