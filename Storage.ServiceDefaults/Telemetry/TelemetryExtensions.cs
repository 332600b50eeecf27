using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Storage.ServiceDefaults.Telemetry;

/// <summary>
/// OpenTelemetry wiring without OpenTelemetry.Extensions.Hosting or the instrumentation packages (absent
/// from the mirror): .NET 10 itself emits the ASP.NET Core and HttpClient activities and meters, so the
/// SDK only has to listen to them and export over OTLP.
/// </summary>
public static class TelemetryExtensions
{
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Every ActivitySource and Meter of this product is named <c>Storage.*</c>.</summary>
    public const string ProductSourcePattern = "Storage.*";

    /// <summary>Built-in .NET sources that carry the request path through the service.</summary>
    private static readonly string[] BuiltInSources = ["Microsoft.AspNetCore", "System.Net.Http"];

    private static readonly string[] BuiltInMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.Http",
        "System.Runtime",
    ];

    /// <summary>
    /// Logs, traces and metrics over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (as Aspire does);
    /// otherwise nothing is collected, so an unobserved service pays nothing for it.
    /// </summary>
    public static IHostApplicationBuilder AddOpenTelemetryExport(this IHostApplicationBuilder builder)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointKey]))
        {
            return builder;
        }

        var resource = ResourceBuilder.CreateDefault().AddService(
            builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName);

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.SetResourceBuilder(resource);
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
            logging.AddOtlpExporter();
        });

        builder.Services.AddSingleton(_ => Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(BuiltInSources)
            .AddSource(builder.Environment.ApplicationName, ProductSourcePattern)
            .AddOtlpExporter()
            .Build());
        builder.Services.AddSingleton(_ => Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(BuiltInMeters)
            .AddMeter(builder.Environment.ApplicationName, ProductSourcePattern)
            .AddOtlpExporter()
            .Build());
        builder.Services.AddHostedService<TelemetryProvidersActivator>();
        return builder;
    }

    /// <summary>Health probes run every few seconds; tracing them would drown the real requests.</summary>
    public static WebApplication UseHealthRequestsUntraced(this WebApplication app, params string[] paths)
    {
        app.Use((context, next) =>
        {
            if (Activity.Current is { } activity && paths.Any(p => context.Request.Path.StartsWithSegments(p)))
            {
                activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
                activity.IsAllDataRequested = false;
            }

            return next(context);
        });
        return app;
    }
}
