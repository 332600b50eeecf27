using Aspire.Hosting.ApplicationModel;

namespace Storage.AppHost;

/// <summary>How a gateway is wired to something it needs (a connection string and a wait, however that thing runs).</summary>
public sealed record GatewayDependency(Func<IResourceBuilder<ProjectResource>, IResourceBuilder<ProjectResource>> Attach);

/// <summary>The S3 key pair the gateway accepts and the cache worker signs with: secret parameters shared by both.</summary>
public sealed record S3Credentials(IResourceBuilder<ParameterResource> AccessKey, IResourceBuilder<ParameterResource> SecretKey);

/// <summary>The AppHost's composition, one resource group per method.</summary>
public static class StorageTopology
{
    /// <summary>The bucket the cache worker keeps Go build outputs in (it creates it if missing).</summary>
    public const string CacheBucket = "gocache";

    public static S3Credentials AddS3Credentials(this IDistributedApplicationBuilder builder) =>
        new(
            builder.AddParameter("s3-access-key"),
            builder.AddParameter("s3-secret-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true));

    /// <summary>
    /// Redis for metadata, with an append-only file: Aspire's persistence is RDB snapshots (<c>--save 60 1</c>), which
    /// can lose a minute of commits, and every commit here is an object some client was told is stored.
    /// </summary>
    public static GatewayDependency AddMetadataStore(this IDistributedApplicationBuilder builder, TopologySettings settings)
    {
        if (settings.UseContainers)
        {
            var redis = builder.AddRedis("redis")
                .WithDataVolume()
                .WithArgs("--appendonly", "yes", "--appendfsync", "everysec");
            return new GatewayDependency(gateway => gateway.WithReference(redis).WaitFor(redis));
        }

        var server = Executables.Find("redis-server")
            ?? throw new DistributedApplicationException("Without containers the AppHost runs Redis from redis-server, which is not on PATH (Debian: apt-get install redis-server).");
        var port = Executables.FreeLoopbackPort();
        var folder = Directory.CreateDirectory(Path.Combine(settings.DataPath, "redis")).FullName;
        var process = builder.AddExecutable("redis", server, folder,
            "--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--dir", folder, "--appendonly", "yes", "--appendfsync", "everysec", "--save", string.Empty);
        return new GatewayDependency(gateway => gateway
            .WithEnvironment("ConnectionStrings__redis", $"127.0.0.1:{port}")
            .WaitFor(process));
    }

    /// <summary>
    /// The storage nodes, <c>node1</c> … <c>nodeN</c>: MinIO containers with data volumes (named after the node, so a
    /// restart with a larger N keeps every existing node's data), local minio servers, or folders.
    /// </summary>
    public static IReadOnlyList<GatewayDependency> AddStorageNodes(this IDistributedApplicationBuilder builder, TopologySettings settings)
    {
        var nodes = new List<GatewayDependency>();
        for (var i = 1; i <= settings.NodeCount; i++)
        {
            var name = $"node{i}";
            if (settings.UseContainers)
            {
#pragma warning disable CS0618 // The toolkit marks MinIO obsolete only because the MinIO project is archived; the image still serves.
                var minio = builder.AddMinioContainer(name).WithDataVolume();
#pragma warning restore CS0618
                nodes.Add(new GatewayDependency(gateway => gateway.WithReference(minio).WaitFor(minio)));
            }
            else if (settings.MinioExecutable is { } minioExecutable)
            {
                nodes.Add(builder.AddMinioProcess(name, minioExecutable, settings));
            }
            else
            {
                var folder = Directory.CreateDirectory(Path.Combine(settings.DataPath, "nodes", name)).FullName;
                nodes.Add(new GatewayDependency(gateway => gateway.WithEnvironment($"Storage__Nodes__{name}", folder)));
            }
        }

        return nodes;
    }

    /// <summary>Two stateless gateway replicas behind one external endpoint (the launch profile's port 3000).</summary>
    public static IResourceBuilder<ProjectResource> AddGateway(this IDistributedApplicationBuilder builder, GatewayDependency metadata, IReadOnlyList<GatewayDependency> nodes, S3Credentials credentials)
    {
        var gateway = builder.AddProject<Projects.Storage_Gateway>("gateway")
            .WithReplicas(2)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health")
            .WithEnvironment("Storage__S3__Credentials__0__AccessKey", credentials.AccessKey)
            .WithEnvironment("Storage__S3__Credentials__0__SecretKey", credentials.SecretKey);
        gateway = metadata.Attach(gateway);
        return nodes.Aggregate(gateway, (current, node) => node.Attach(current));
    }

    /// <summary>
    /// The Go cache worker (<c>storage-cacheprog serve</c>) on the user's default socket, so that
    /// <c>GOCACHEPROG="storage-cacheprog connect"</c> finds it; the gateway is its remote tier.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddCacheWorker(this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> gateway, S3Credentials credentials, TopologySettings settings)
    {
        var arguments = new List<string> { "serve", "--bucket", CacheBucket };
        if (settings.WorkerListen is { } address)
        {
            arguments.AddRange(["--listen", address]);
        }

        return builder.AddProject<Projects.Storage_CacheProg>("cacheprog")
            .WithArgs(arguments.ToArray())
            .WithHttpEndpoint()
            .WithHttpHealthCheck("/health")
            .WithReference(gateway)
            .WaitFor(gateway)
            .WithEnvironment("S3_ACCESS_KEY_ID", credentials.AccessKey)
            .WithEnvironment("S3_SECRET_ACCESS_KEY", credentials.SecretKey);
    }

    private static GatewayDependency AddMinioProcess(this IDistributedApplicationBuilder builder, string name, string executable, TopologySettings settings)
    {
        var port = Executables.FreeLoopbackPort();
        var folder = Directory.CreateDirectory(Path.Combine(settings.DataPath, "nodes", name)).FullName;
        var password = builder.AddParameter($"{name}-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true, persist: true);
        var server = builder.AddExecutable(name, executable, folder, "server", folder, "--address", $"127.0.0.1:{port}", "--console-address", $"127.0.0.1:{Executables.FreeLoopbackPort()}")
            .WithEnvironment("MINIO_ROOT_USER", "minioadmin")
            .WithEnvironment("MINIO_ROOT_PASSWORD", password);
        var connection = ReferenceExpression.Create($"Endpoint=http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)};AccessKey=minioadmin;SecretKey={password.Resource}");
        return new GatewayDependency(gateway => gateway.WithEnvironment($"ConnectionStrings__{name}", connection).WaitFor(server));
    }
}
