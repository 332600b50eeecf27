using Storage.AppHost.Resources;

namespace Storage.AppHost;

/// <summary>An S3 key pair, as AppHost parameters.</summary>
public sealed record S3KeyPair(IResourceBuilder<ParameterResource> AccessKey, IResourceBuilder<ParameterResource> SecretKey);

/// <summary>
/// The keys the gateway accepts: the administrator pair (which the cache worker signs with too), and a pair that may only
/// read the Go cache's bucket, for builds (CI jobs) that should use the cache and never write it — enforced by the gateway.
/// </summary>
public sealed record S3Credentials(S3KeyPair Administrator, S3KeyPair CacheReader);

/// <summary>A storage node: a MinIO server (container or process) the gateway reaches by connection string, or a folder.</summary>
public sealed record StorageNode(string Name, IResourceBuilder<IResourceWithConnectionString>? Server, string? Folder);

/// <summary>The AppHost's composition, one resource group per method.</summary>
public static class StorageTopology
{
    /// <summary>The bucket the cache worker keeps Go build outputs in (it creates it if missing).</summary>
    public const string CacheBucket = "gocache";

    /// <summary>
    /// Redis runs with an append-only file: Aspire's persistence is RDB snapshots (<c>--save 60 1</c>), which can lose
    /// a minute of commits, and every commit here is an object some client was told is stored.
    /// </summary>
    private static readonly string[] RedisDurability = ["--appendonly", "yes", "--appendfsync", "everysec"];

    public static S3Credentials AddS3Credentials(this IDistributedApplicationBuilder builder) =>
        new(
            new(builder.AddParameter("s3-access-key"), builder.AddParameter("s3-secret-key", GeneratedSecret, secret: true, persist: true)),
            new(
                builder.AddParameter("s3-cache-reader-access-key", new GenerateParameterDefault { MinLength = 20, Special = false, Lower = false }, persist: true),
                builder.AddParameter("s3-cache-reader-secret-key", GeneratedSecret, secret: true, persist: true)));

    private static GenerateParameterDefault GeneratedSecret => new() { MinLength = 32, Special = false };

    /// <summary>Redis for metadata: Aspire's Redis container, or a local redis-server with the same connection string.</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddMetadataStore(this IDistributedApplicationBuilder builder, TopologySettings settings)
    {
        if (settings.UseContainers)
        {
            var redis = builder.AddRedis("redis").WithDataVolume(settings.VolumeName("redis")).WithArgs(RedisDurability);
            return settings.RedisImage is { } image ? redis.WithImageReference(image) : redis;
        }

        var server = Executables.Find("redis-server")
            ?? throw new DistributedApplicationException("Without containers the AppHost runs Redis from redis-server, which is not on PATH (Debian: apt-get install redis-server).");
        return builder.AddRedisServer("redis", server, settings.DataFolder("redis")).WithArgs(RedisDurability);
    }

    /// <summary>
    /// The storage nodes, <c>node1</c> … <c>nodeN</c>: MinIO containers with data volumes named after the node (so a
    /// restart with a larger N keeps every existing node's data), local minio servers, or folders.
    /// </summary>
    public static IReadOnlyList<StorageNode> AddStorageNodes(this IDistributedApplicationBuilder builder, TopologySettings settings)
    {
        if (!settings.UseContainers && settings.MinioCommand is null)
        {
            Console.WriteLine("No minio executable (Storage:MinioCommand or minio on PATH): the storage nodes are folders under " + settings.DataFolder("nodes") + ".");
        }

        return [.. Enumerable.Range(1, settings.NodeCount).Select(i =>
        {
            var name = $"node{i}";
            if (settings.UseContainers)
            {
                return new StorageNode(name, builder.AddMinio(name, settings.MinioImage).WithDataVolume(settings.VolumeName(name)), null);
            }

            return settings.MinioCommand is { } command
                ? new StorageNode(name, builder.AddMinioServer(name, command, settings.DataFolder("nodes", name)), null)
                : new StorageNode(name, null, settings.DataFolder("nodes", name));
        })];
    }

    /// <summary>Two stateless gateway replicas behind one external endpoint (the launch profile's port 3000).</summary>
    public static IResourceBuilder<ProjectResource> AddGateway(
        this IDistributedApplicationBuilder builder,
        IResourceBuilder<IResourceWithConnectionString> metadata,
        IReadOnlyList<StorageNode> nodes,
        S3Credentials credentials)
    {
        var gateway = builder.AddProject<Projects.Storage_Gateway>("gateway")
            .WithReplicas(2)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health")
            .WithEnvironment("Storage__S3__Credentials__0__AccessKey", credentials.Administrator.AccessKey)
            .WithEnvironment("Storage__S3__Credentials__0__SecretKey", credentials.Administrator.SecretKey)
            .WithEnvironment("Storage__S3__Credentials__0__Administrator", "true")
            .WithEnvironment("Storage__S3__Credentials__1__AccessKey", credentials.CacheReader.AccessKey)
            .WithEnvironment("Storage__S3__Credentials__1__SecretKey", credentials.CacheReader.SecretKey)
            .WithEnvironment("Storage__S3__Credentials__1__Grants__0__Bucket", CacheBucket)
            .WithEnvironment("Storage__S3__Credentials__1__Grants__0__Access", "Read")
            .WithReference(metadata)
            .WaitFor(metadata);
        foreach (var node in nodes)
        {
            gateway = node.Server is { } server
                ? gateway.WithReference(server).WaitFor(server)
                : gateway.WithEnvironment($"Storage__Nodes__{node.Name}", node.Folder);
        }

        return gateway;
    }

    /// <summary>
    /// The Go cache worker (<c>storage-cacheprog serve</c>) on the user's default socket, so that
    /// <c>GOCACHEPROG="storage-cacheprog connect"</c> finds it; the gateway is its remote tier.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddCacheWorker(
        this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> gateway, S3Credentials credentials, TopologySettings settings)
    {
        List<string> arguments = ["serve", "--bucket", CacheBucket];
        if (settings.WorkerListen is { } address)
        {
            arguments.AddRange(["--listen", address]);
        }

        if (settings.WorkerDirectory is { } directory)
        {
            arguments.AddRange(["--dir", directory]);
        }

        return builder.AddProject<Projects.Storage_CacheProg>("cacheprog")
            .WithArgs([.. arguments])
            .WithHttpEndpoint()
            .WithHttpHealthCheck("/health")
            .WithReference(gateway)
            .WaitFor(gateway)
            .WithEnvironment("S3_ACCESS_KEY_ID", credentials.Administrator.AccessKey)
            .WithEnvironment("S3_SECRET_ACCESS_KEY", credentials.Administrator.SecretKey);
    }
}
