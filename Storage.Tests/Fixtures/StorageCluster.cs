using Amazon.Runtime;
using Amazon.S3;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Gateway.Nodes;

namespace Storage.Tests.Fixtures;

/// <summary>
/// The distributed store as processes on loopback: a redis-server with its append-only file (fsync always), S3 nodes
/// (s3rver processes) and any number of gateway processes sharing them — each a real process that tests kill with
/// SIGKILL. <see cref="MissingPartsAsync"/> audits what metadata references against what the nodes actually hold.
/// </summary>
public sealed class StorageCluster : IAsyncDisposable
{
    private readonly List<GatewayProcess> _gateways = [];
    private readonly Dictionary<string, string> _settings;

    private StorageCluster(RedisServer redis, S3NodeCluster nodes, Dictionary<string, string> settings)
    {
        Redis = redis;
        Nodes = nodes;
        _settings = settings;
    }

    /// <summary>The S3 key of gateways started with <see cref="S3Settings"/>.</summary>
    public const string AccessKey = "AKIDCLUSTER";

    public const string Secret = "cluster secret";

    public RedisServer Redis { get; }

    /// <summary>Settings that give a gateway the S3 key <see cref="AccessKey"/>.</summary>
    public static Dictionary<string, string> S3Settings => new()
    {
        ["Storage:S3:Credentials:0:AccessKey"] = AccessKey,
        ["Storage:S3:Credentials:0:SecretKey"] = Secret,
        ["Storage:S3:Credentials:0:Administrator"] = "true",
    };

    /// <summary>AWSSDK.S3, path-style, signing with <see cref="AccessKey"/>.</summary>
    public static AmazonS3Client S3Client(Uri address) =>
        new(new BasicAWSCredentials(AccessKey, Secret), new AmazonS3Config { ServiceURL = address.ToString(), ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    public S3NodeCluster Nodes { get; }

    /// <summary>Fast probes, so a node's state changes within a second or two.</summary>
    public static async Task<StorageCluster> StartAsync(int nodes, IReadOnlyDictionary<string, string>? settings = null)
    {
        var redis = await RedisServer.StartAsync(persistent: true);
        var cluster = await S3NodeCluster.StartAsync(nodes);
        var all = new Dictionary<string, string> { ["Storage:Maintenance:NodeProbeInterval"] = "00:00:01" };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            all[key] = value;
        }

        return new StorageCluster(redis, cluster, all);
    }

    /// <summary>A gateway process that knows the first <paramref name="nodeCount"/> nodes (all of them by default).</summary>
    public async Task<GatewayProcess> StartGatewayAsync(int? nodeCount = null, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = new Dictionary<string, string> { ["ConnectionStrings__redis"] = Redis.ConnectionString };
        foreach (var (index, server) in Nodes.Servers.Index().Take(nodeCount ?? Nodes.Servers.Count))
        {
            environment[$"ConnectionStrings__{S3NodeCluster.NodeId(index)}"] = server.ConnectionString;
        }

        foreach (var (key, value) in _settings.Concat(settings ?? new Dictionary<string, string>()))
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var gateway = await GatewayProcess.StartAsync(environment);
        _gateways.Add(gateway);
        return gateway;
    }

    /// <summary>The metadata the gateways share, read directly from Redis.</summary>
    public async Task<List<ObjectRecord>> ObjectsAsync()
    {
        await using var connection = await RedisClient.ConnectAsync(Redis.ConnectionString);
        var store = new RedisMetadataStore(connection);
        return await store.AllObjectsAsync(default).ToListAsync();
    }

    /// <summary>Every part metadata references that its node does not hold with the right length (nodes that are down count as missing).</summary>
    public async Task<IReadOnlyList<string>> MissingPartsAsync()
    {
        var missing = new List<string>();
        var nodes = Nodes.Servers.Select((server, index) => new S3Node(S3NodeCluster.NodeId(index), S3NodeOptions.Parse(server.ConnectionString))).ToArray();
        try
        {
            var held = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
            foreach (var node in nodes)
            {
                var parts = new Dictionary<string, long>(StringComparer.Ordinal);
                try
                {
                    await foreach (var part in node.ListAsync(PartKeys.Root, default))
                    {
                        parts[part.Key] = part.Length;
                    }
                }
                catch (IOException)
                {
                    // A node that is down holds nothing reachable.
                }

                held[node.Id] = parts;
            }

            foreach (var record in await ObjectsAsync())
            {
                foreach (var part in record.Segments.Parts())
                {
                    if (!held.TryGetValue(part.NodeId, out var parts) || !parts.TryGetValue(part.Key, out var length) || length != part.Length)
                    {
                        missing.Add($"{record.Bucket}/{record.Key}: {part.NodeId} {part.Key}");
                    }
                }
            }
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Dispose();
            }
        }

        return missing;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await gateway.DisposeAsync();
        }

        await Nodes.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
