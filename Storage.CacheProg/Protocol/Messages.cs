using System.Text.Json.Serialization;

namespace Storage.CacheProg.Protocol;

/// <summary>
/// A request from the go command (cmd/go/internal/cacheprog.Request). IDs are base64 JSON strings of 32 bytes;
/// Go 1.21–1.23 call the output id <c>ObjectID</c>, newer Go <c>OutputID</c>: both are accepted.
/// </summary>
public sealed record CacheRequest(
    long ID,
    string? Command,
    byte[]? ActionID = null,
    byte[]? OutputID = null,
    byte[]? ObjectID = null,
    long BodySize = 0)
{
    public const string Get = "get";
    public const string Put = "put";
    public const string Close = "close";

    [JsonIgnore]
    public byte[]? EffectiveOutputID => OutputID ?? ObjectID;
}

/// <summary>A response (cmd/go/internal/cacheprog.Response); unset members are omitted, as Go's omitempty does.</summary>
public sealed record CacheResponse(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] long ID,
    string? Err = null,
    IReadOnlyList<string>? KnownCommands = null,
    bool Miss = false,
    byte[]? OutputID = null,
    long Size = 0,
    DateTimeOffset? Time = null,
    string? DiskPath = null);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(CacheRequest))]
[JsonSerializable(typeof(CacheResponse))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
