using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
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
            .SetSampler(new OperationRootSampler())
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

    /// <summary>
    /// Names and tags ASP.NET Core's server spans as OpenTelemetry.Instrumentation.AspNetCore would (absent from the
    /// mirror): <c>PUT /object/{**id}</c>, with the semantic-convention method, route, path and status. Health
    /// probes, which run every few seconds, are not recorded, so they do not drown the real requests.
    /// </summary>
    public static WebApplication UseRequestTracing(this WebApplication app, params string[] untracedPaths)
    {
        app.Use(async (context, next) =>
        {
            if (Activity.Current is not { } activity)
            {
                await next(context);
                return;
            }

            if (untracedPaths.Any(p => context.Request.Path.StartsWithSegments(p)))
            {
                activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
                activity.IsAllDataRequested = false;
                await next(context);
                return;
            }

            activity.SetTag("http.request.method", context.Request.Method);
            activity.SetTag("url.path", context.Request.Path.Value);
            activity.SetTag("url.scheme", context.Request.Scheme);
            var name = activity.DisplayName;
            await next(context);
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;

            // A handler that named the span (the S3 API names it after the operation) knows best.
            if (activity.DisplayName == name)
            {
                activity.DisplayName = route is null ? context.Request.Method : $"{context.Request.Method} {route}";
            }

            activity.SetTag("http.route", route);
            activity.SetTag("http.response.status_code", context.Response.StatusCode);
            if (context.Response.StatusCode >= 500)
            {
                activity.SetStatus(ActivityStatusCode.Error);
            }
        });
        return app;
    }
}
