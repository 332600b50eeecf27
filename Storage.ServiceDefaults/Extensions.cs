using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Polly;
using Storage.ServiceDefaults.Health;
using Storage.ServiceDefaults.Telemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Aspire's service defaults, in the shape of its template: OpenTelemetry (ASP.NET Core, HttpClient and runtime
/// instrumentation plus this product's <c>Storage.*</c> sources and meters, OTLP export), health checks, service
/// discovery and the standard resilience handler. Where this differs from the template it says why.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";

    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    private const string QueueSizeKey = "OTEL_BSP_MAX_QUEUE_SIZE";
    private const string BatchSizeKey = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
    private const int ExportQueueSize = 16_384;
    private const int ExportBatchSize = 2_048;

    /// <summary>Every ActivitySource and Meter of this product is named <c>Storage.*</c>.</summary>
    public const string ProductSourcePattern = "Storage.*";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler(options =>
            {
                // The standard handler would resend any request; a streamed body has been consumed by the first attempt.
                options.Retry.ShouldHandle = args => ValueTask.FromResult(
                    args.Context.GetRequestMessage() is { Content: null or ByteArrayContent } && HttpClientResiliencePredicates.IsTransient(args.Outcome));
            });
            http.AddServiceDiscovery();
        });
        return builder;
    }

    /// <summary>
    /// Logs, traces and metrics over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (as Aspire does). Unlike the
    /// template, nothing is collected otherwise: an active tracer provider makes every request create and sample its
    /// activities, which an unobserved gateway should not pay for. The resource (service name, instance id) comes from
    /// <c>OTEL_SERVICE_NAME</c> and <c>OTEL_RESOURCE_ATTRIBUTES</c>, so the dashboard links each replica's telemetry to it.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointKey]))
        {
            return builder;
        }

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(builder.Environment.ApplicationName, ProductSourcePattern))
            .WithTracing(tracing => tracing
                .SetSampler(new OperationRootSampler())
                .AddSource(builder.Environment.ApplicationName, ProductSourcePattern)

                // Orchestrators probe these every few seconds; traced, they would bury the requests.
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context =>
                    !context.Request.Path.StartsWithSegments(HealthPath) && !context.Request.Path.StartsWithSegments(AlivePath))
                .AddHttpClientInstrumentation())
            .UseOtlpExporter();

        // A burst (the cache worker uploading a build's outputs: ~6,000 spans/s from a gateway) outran the SDK's
        // defaults, a queue of 2,048 spans exported 512 at a time, as soon as the receiver took ~150 ms per export (a
        // busy dashboard): spans were dropped and traces lost their gateway half. Bigger batches keep up with such a
        // receiver and the longer queue absorbs the burst (measured, docs/benchmarks.md); OTEL_BSP_* still win.
        builder.Services.Configure<ActivityExportProcessorOptions>(processor =>
        {
            var batch = processor.BatchExportProcessorOptions;
            if (string.IsNullOrEmpty(builder.Configuration[QueueSizeKey]))
            {
                batch.MaxQueueSize = ExportQueueSize;
            }

            if (string.IsNullOrEmpty(builder.Configuration[BatchSizeKey]))
            {
                batch.MaxExportBatchSize = ExportBatchSize;
            }
        });
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [HealthTags.Live]);
        return builder;
    }

    /// <summary>
    /// Maps /health (every check: readiness) and /alive (checks tagged live). Unlike the template, in every
    /// environment: Aspire runs services as Production and orchestrators probe them; the answer names each check's
    /// status and description, never an exception's text.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = HealthResponseWriter.WriteJsonAsync });
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Live),
            ResponseWriter = HealthResponseWriter.WriteJsonAsync,
        });
        return app;
    }
}
