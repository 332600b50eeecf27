using System.Text.Json;
using System.Text.Json.Serialization;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Nodes;

/// <summary>What a node keeps at its root to say whose data it holds, and since when (MinIO keeps a format file alike).</summary>
public sealed record NodeMarker(string Node, string Epoch, DateTimeOffset Since);

[JsonSerializable(typeof(NodeMarker))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class NodeMarkerJson : JsonSerializerContext;

/// <summary>
/// A node is verified, not trusted: each one carries an identity marker naming it and its current epoch, and metadata
/// records the epoch every node must show. A node that answers without its marker (a replaced disk, a container
/// recreated without its volume) or with an older one has lost data: it gets a new epoch, and healing is woken to find
/// and rebuild every part metadata places on it. A node carrying another node's marker is refused (down), since using
/// it would mix two nodes' parts.
/// </summary>
public sealed class NodeIdentity(IMetadataStore metadata, RepairSignal repairs, TimeProvider time, ILogger<NodeIdentity> logger)
{
    public const string MarkerKey = "storage-node.json";

    private const int MaxMarkerBytes = 4096;

    /// <summary>
    /// Null when the node may be used; otherwise why not. <paramref name="holdsParts"/>: metadata places parts on it
    /// (without any, a new epoch has nothing to verify).
    /// </summary>
    public async Task<string?> CheckAsync(IStorageNode node, NodeEpoch? recorded, bool holdsParts, CancellationToken cancellationToken)
    {
        var marker = await ReadAsync(node, cancellationToken);
        if (marker is not null && marker.Node != node.Id)
        {
            return $"it holds the data of node '{marker.Node}' (its {MarkerKey} says so); it is not used as '{node.Id}'";
        }

        if (marker is not null && marker.Epoch == recorded?.Epoch)
        {
            return null;
        }

        if (marker is not null && recorded is null)
        {
            // Data written before epochs were recorded (or metadata that lost them): adopt the marker, verify the contents.
            if (await metadata.ChangeNodeEpochAsync(node.Id, null, marker.Epoch, verified: !holdsParts, cancellationToken) && holdsParts)
            {
                repairs.Raise();
            }

            return null;
        }

        // No marker, or an older one than metadata expects: whatever the node held may be gone.
        var epoch = Guid.NewGuid().ToString("N");
        if (!await metadata.ChangeNodeEpochAsync(node.Id, recorded?.Epoch, epoch, verified: !holdsParts, cancellationToken))
        {
            return null;
        }

        await WriteAsync(node, new NodeMarker(node.Id, epoch, time.GetUtcNow()), cancellationToken);
        if (!holdsParts)
        {
            logger.LogInformation("Node {Node} has no identity marker and holds no parts: now epoch {Epoch}", node.Id, epoch);
            return null;
        }

        if (recorded is null)
        {
            logger.LogWarning("Node {Node} holds parts but has no identity marker: now epoch {Epoch}; healing verifies its contents", node.Id, epoch);
        }
        else
        {
            logger.LogWarning("Node {Node} answered without the data of epoch {Old} ({Why}): now epoch {Epoch}; healing rebuilds every part it should hold",
                node.Id, recorded.Epoch, marker is null ? "no identity marker" : "an older identity marker", epoch);
        }

        repairs.Raise();
        return null;
    }

    private static async Task<NodeMarker?> ReadAsync(IStorageNode node, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await node.OpenReadAsync(MarkerKey, 0, MaxMarkerBytes, cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            return JsonSerializer.Deserialize(buffer.ToArray(), NodeMarkerJson.Default.NodeMarker);
        }
        catch (PartNotFoundException)
        {
            return null;
        }
        catch (JsonException)
        {
            // Unreadable counts as absent: the node then gets a new epoch and its contents are verified.
            return null;
        }
    }

    private static async Task WriteAsync(IStorageNode node, NodeMarker marker, CancellationToken cancellationToken)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(marker, NodeMarkerJson.Default.NodeMarker);
        await node.PutAsync(MarkerKey, new MemoryStream(bytes), bytes.Length, cancellationToken);
    }
}
