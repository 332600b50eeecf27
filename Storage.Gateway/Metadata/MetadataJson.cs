using System.Text.Json;
using System.Text.Json.Serialization;

namespace Storage.Gateway.Metadata;

/// <summary>Records are stored as compact JSON by both metadata stores; source-generated for speed.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ObjectRecord))]
[JsonSerializable(typeof(IReadOnlyList<PartLocation>))]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(ReclaimEntry))]
public sealed partial class MetadataJsonContext : JsonSerializerContext
{
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, typeof(T), Default);

    /// <summary>An object record as both stores keep it: without its inline bytes, which each store keeps apart.</summary>
    public static string SerializeRecord(ObjectRecord record) => Serialize(record with { Inline = null });

    public static T Deserialize<T>(string json) =>
        (T)(JsonSerializer.Deserialize(json, typeof(T), Default) ?? throw new JsonException($"Empty {typeof(T).Name} record."));
}
