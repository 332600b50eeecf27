using System.Text.Json;
using System.Text.Json.Serialization;

namespace Storage.CacheProg.Cache;

/// <summary>
/// What an ActionID maps to, stored as <c>&lt;ActionID hex&gt;-a.json</c> locally and remotely (the workshop layout):
/// the OutputID (hex), the body's size and when it was put, in Unix nanoseconds.
/// </summary>
public sealed record ActionEntry(string OutputID, long Size, long TimeNanos)
{
    [JsonIgnore]
    public DateTimeOffset Time => DateTimeOffset.UnixEpoch.AddTicks(TimeNanos / 100);

    public static ActionEntry Create(byte[] outputId, long size, DateTimeOffset time) =>
        new(Convert.ToHexStringLower(outputId), size, (time - DateTimeOffset.UnixEpoch).Ticks * 100);

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, CacheJsonContext.Default.ActionEntry);

    /// <summary>The entry, or null when the bytes are not one (a damaged file is a miss).</summary>
    public static ActionEntry? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var entry = JsonSerializer.Deserialize(json, CacheJsonContext.Default.ActionEntry);
            return entry is { OutputID.Length: 64, Size: >= 0 } && entry.OutputID.All(char.IsAsciiHexDigit) ? entry : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSerializable(typeof(ActionEntry))]
[JsonSerializable(typeof(SessionRecord))]
[JsonSerializable(typeof(List<SessionRecord>))]
internal sealed partial class CacheJsonContext : JsonSerializerContext;
