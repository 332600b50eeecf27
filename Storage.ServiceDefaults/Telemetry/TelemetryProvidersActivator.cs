using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Storage.ServiceDefaults.Telemetry;

/// <summary>
/// Resolves the tracer and meter providers when the host starts, so they listen from the first request;
/// the container disposes them (flushing the exporters) at shutdown. This is the job
/// OpenTelemetry.Extensions.Hosting would do.
/// </summary>
internal sealed class TelemetryProvidersActivator(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<TracerProvider>();
        services.GetRequiredService<MeterProvider>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
