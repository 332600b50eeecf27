using System.Text.Json;
using System.Text.Json.Serialization;

namespace Storage.CacheProg.Cache;

/// <summary>
/// What an ActionID maps to, stored as <c>&lt;ActionID hex&gt;-a.json</c> locally and remotely (the workshop layout):
/// the OutputID (hex), the body's size and when it was put, in Unix nanoseconds. Remote entries of small bodies also
/// carry the body itself (base64 <c>Body</c>, which other tools ignore), so a remote hit on one is a single GET; the
/// <c>-d</c> object is uploaded all the same.
/// </summary>
public sealed record ActionEntry(
    string OutputID,
    long Size,
    long TimeNanos,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] byte[]? Body = null)
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
            return entry is { OutputID.Length: 64, Size: >= 0 } && entry.OutputID.All(char.IsAsciiHexDigit)
                ? entry.Body is { } body && body.Length != entry.Size ? entry with { Body = null } : entry
                : null;
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
