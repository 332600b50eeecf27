using System.Security.Cryptography;
using System.Text;
using Docker.DotNet.Models;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Nodes.Discovery;

/// <summary>What a matching container is to the gateway: a node it can use, or the reason it cannot.</summary>
public abstract record DockerNodeContainer(string NodeId)
{
    public sealed record Usable(string NodeId, S3NodeOptions Connection) : DockerNodeContainer(NodeId);

    public sealed record Stopped(string NodeId) : DockerNodeContainer(NodeId);

    public sealed record Unusable(string NodeId, string Reason) : DockerNodeContainer(NodeId);

    private static readonly (string User, string Password)[] KeyVariables =
    [
        ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"),
        ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
    ];

    /// <summary>
    /// Reads a container as a node: its keys from its environment, its address on <paramref name="network"/> or, unset, on
    /// a network it shares with the gateway's container (<paramref name="gatewayNetworks"/>); a gateway outside Docker
    /// (no networks) reaches a container with one network on that network.
    /// </summary>
    public static DockerNodeContainer From(ContainerInspectResponse container, int port, string? network, IReadOnlySet<string> gatewayNetworks)
    {
        var id = NodeIdFor(container.Name);
        if (container.State is not { Running: true })
        {
            return new Stopped(id);
        }

        if (Keys(container.Config?.Env ?? []) is not { } keys)
        {
            return new Unusable(id, "its environment has neither MINIO_ROOT_USER and MINIO_ROOT_PASSWORD nor MINIO_ACCESS_KEY and MINIO_SECRET_KEY");
        }

        var networks = container.NetworkSettings?.Networks ?? new Dictionary<string, EndpointSettings>();
        var chosen = network is not null
            ? networks.Where(n => n.Key == network).ToArray()
            : gatewayNetworks.Count > 0 ? [.. networks.Where(n => gatewayNetworks.Contains(n.Key)).OrderBy(n => n.Key, StringComparer.Ordinal).Take(1)]
            : [.. networks];
        if (chosen is not [var (name, endpoint)])
        {
            return new Unusable(id, network is not null ? $"it is not on network '{network}' (Storage:Discovery:Docker:Network)"
                : gatewayNetworks.Count > 0 ? $"it shares no network with the gateway's container (it is on {string.Join(", ", networks.Keys)})"
                : $"it is on {networks.Count} networks ({string.Join(", ", networks.Keys)}); set Storage:Discovery:Docker:Network to the one to use");
        }

        return string.IsNullOrEmpty(endpoint.IPAddress)
            ? new Unusable(id, $"it has no IP address on network '{name}'")
            : new Usable(id, new S3NodeOptions(new Uri($"http://{endpoint.IPAddress}:{port}"), keys.User, keys.Password, S3NodeOptions.DefaultBucket));
    }

    /// <summary>
    /// The node id of a container: its name (Docker's leading '/' dropped), with characters a node id cannot hold
    /// replaced by '-', so a recreated container with the same name is the same node. Names longer than an id
    /// keep their start and a hash of the whole name.
    /// </summary>
    public static string NodeIdFor(string containerName)
    {
        var name = containerName.TrimStart('/');
        var id = string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-'));
        if (id.Length is > 0 and <= NodeIds.MaxLength)
        {
            return id;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
        return $"{id[..Math.Min(id.Length, NodeIds.MaxLength - hash.Length - 1)]}-{hash}";
    }

    private static (string User, string Password)? Keys(IList<string> environment)
    {
        var values = environment
            .Select(entry => entry.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .GroupBy(pair => pair[0], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Last()[1], StringComparer.Ordinal);
        foreach (var (user, password) in KeyVariables)
        {
            if (values.GetValueOrDefault(user) is { Length: > 0 } u && values.GetValueOrDefault(password) is { Length: > 0 } p)
            {
                return (u, p);
            }
        }

        return null;
    }
}
