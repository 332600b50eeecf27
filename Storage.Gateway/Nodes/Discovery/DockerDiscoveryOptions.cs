using System.ComponentModel.DataAnnotations;

namespace Storage.Gateway.Nodes.Discovery;

/// <summary>
/// <c>Storage:Discovery:Docker</c>: MinIO nodes found in a Docker daemon instead of configured by hand (see
/// docs/configuration.md). Every matching container's address and keys are read from the daemon.
/// </summary>
public sealed class DockerDiscoveryOptions : IValidatableObject
{
    public const string Section = "Storage:Discovery:Docker";

    public const string DefaultNameContains = "amazin-object-storage-node";

    public bool Enabled { get; set; }

    /// <summary>A container is a node when its name contains this.</summary>
    [Required]
    [MinLength(1)]
    public string NameContains { get; set; } = DefaultNameContains;

    /// <summary>The daemon's API: <c>unix:///var/run/docker.sock</c> (the default) or <c>tcp://host:2375</c>.</summary>
    [Required]
    public Uri Endpoint { get; set; } = new("unix:///var/run/docker.sock");

    /// <summary>The port the nodes' S3 API listens on inside their containers.</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 9000;

    /// <summary>
    /// The Docker network through which the nodes are reached. Unset: the network the gateway's own container shares
    /// with the node, else the node's only network.
    /// </summary>
    public string? Network { get; set; }

    /// <summary>Longest wait between attempts to reach a daemon that went away.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Endpoint is not { IsAbsoluteUri: true, Scheme: "unix" or "tcp" or "http" or "https" })
        {
            yield return new ValidationResult(
                $"Storage:Discovery:Docker:Endpoint must be unix:///path/to/docker.sock or tcp://host:port, not '{Endpoint}'.", [nameof(Endpoint)]);
        }
    }
}
