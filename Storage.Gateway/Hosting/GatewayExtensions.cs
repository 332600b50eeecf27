using Aspire.StackExchange.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Storage.Gateway.Api;
using Storage.Gateway.Api.S3;
using Storage.Gateway.Lifecycle;
using Storage.Gateway.Maintenance;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Gateway.Metadata.Sqlite;
using Storage.Gateway.Nodes;
using Storage.Gateway.Nodes.Discovery;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Encryption;
using Storage.Gateway.Objects.Erasure;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Hosting;

public static class GatewayExtensions
{
    /// <summary>The original requirements' port; loopback only unless configured otherwise.</summary>
    public const string DefaultUrl = "http://localhost:3000";

    public const string MetadataFileName = "metadata.db";

    /// <summary>The connection-string name Aspire's <c>AddRedis("redis")</c> publishes.</summary>
    public const string RedisConnectionName = "redis";

    /// <summary>The second Redis client, for metadata writes, when they wait for replicas (<c>waitReplicas</c>).</summary>
    private const string RedisWritesName = "redis-writes";

    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .PostConfigure<IHostEnvironment>((options, environment) =>
                options.DataPath = Path.GetFullPath(Path.Combine(environment.ContentRootPath, options.DataPath)))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        services.AddSingleton(TimeProvider.System);
        builder.AddMetadataStore();
        services.AddSingleton<NodeRegistry>();
        services.AddSingleton<NodeFactory>();
        services.AddNodeDiscovery(builder.Configuration);
        services.AddSingleton<PlacementService>();
        services.AddSingleton<ErasureCodecs>();
        services.AddSingleton<StorageTelemetry>();
        services.AddSingleton<PartRebuilder>();
        services.AddSingleton<RepairSignal>();
        services.AddSingleton<DamagedParts>();
        services.AddSingleton<NodeIdentity>();
        services.AddSingleton<SegmentWriter>();
        services.AddEncryption(builder.Configuration);
        services.AddSingleton<ObjectStore>();
        services.AddSingleton<NodeAdministration>();
        services.AddSingleton<StorageInitializer>();
        services.AddSingleton<NodeMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeMonitor>());
        services.AddSingleton<PartReclaimer>();
        services.AddHostedService(sp => sp.GetRequiredService<PartReclaimer>());
        services.AddSingleton(GatewayInstance.Create());
        services.AddSingleton<MaintenanceStatus>();
        services.AddSingleton<PartRepairer>();
        services.AddSingleton<Healer>();
        services.AddHostedService(sp => sp.GetRequiredService<Healer>());
        services.AddHostedService<DamagedPartRepairer>();
        services.AddSingleton<ProtectionCensus>();
        services.AddHostedService(sp => sp.GetRequiredService<ProtectionCensus>());
        services.AddSingleton<Rebalancer>();
        services.AddHostedService(sp => sp.GetRequiredService<Rebalancer>());
        services.AddS3Api();
        services.AddSingleton<AbandonedUploadSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<AbandonedUploadSweeper>());
        services.AddLifecycle(builder.Configuration);

        services.AddHealthChecks()
            .AddCheck<MetadataHealthCheck>("metadata")
            .AddCheck<NodesHealthCheck>("nodes");
        services.AddProblemDetails();
        services.AddExceptionHandler<StorageExceptionHandler>();

        // An object store takes bodies of any size; memory stays bounded because bodies are streamed.
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.ConfigureEndpointDefaults(HalfClosedRequests.Use);
        });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        return builder;
    }

    public static WebApplication MapGateway(this WebApplication app)
    {
        app.UseHalfClosedRequests();
        app.UseExpectContinueRequests();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapDefaultEndpoints();
        app.UseS3Api();
        app.MapObjectApi();
        app.MapFileApi();
        app.MapAdminApi();
        return app;
    }

    /// <summary>
    /// Redis when <c>ConnectionStrings:redis</c> is set (what the AppHost runs, and what several gateway replicas
    /// need), registered the Aspire way (<c>AddRedisClient</c>: the multiplexer, its health check and, when telemetry is
    /// exported, its tracing); otherwise the embedded SQLite file under the data folder.
    /// </summary>
    private static void AddMetadataStore(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        if (builder.Configuration.GetConnectionString(RedisConnectionName) is { Length: > 0 } redis)
        {
            var connection = RedisClient.Parse(redis);
            var exported = !string.IsNullOrWhiteSpace(builder.Configuration[ServiceDefaultsExtensions.OtlpEndpointKey]);
            void Configure(StackExchangeRedisSettings settings)
            {
                settings.ConnectionString = connection.StackExchange;
                settings.DisableTracing = !exported;
            }

            builder.AddRedisClient(RedisConnectionName, Configure, options => RedisClient.Configure(options, connection));
            if (connection.Acknowledgement is not null)
            {
                // Writes and their WAITs on a connection of their own, so that reads never queue behind a WAIT.
                builder.AddKeyedRedisClient(RedisWritesName, Configure, options => RedisClient.Configure(options, connection));
            }

            services.AddSingleton<IMetadataStore>(sp => new RedisMetadataStore(
                sp.GetRequiredService<IConnectionMultiplexer>(),
                sp.GetRequiredService<IOptions<StorageOptions>>().Value.RedisKeyPrefix,
                connection.Acknowledgement,
                connection.Acknowledgement is null ? null : sp.GetRequiredKeyedService<IConnectionMultiplexer>(RedisWritesName)));
        }
        else
        {
            services.AddSingleton<IMetadataStore>(sp =>
            {
                var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
                return new SqliteMetadataStore(Path.Combine(options.DataPath, MetadataFileName), options.MetadataCacheBytes);
            });
        }
    }

    /// <summary>Prepares metadata and nodes; call before the server starts taking requests.</summary>
    public static Task InitializeStorageAsync(this WebApplication app, CancellationToken cancellationToken = default) =>
        app.Services.GetRequiredService<StorageInitializer>().InitializeAsync(cancellationToken);
}
