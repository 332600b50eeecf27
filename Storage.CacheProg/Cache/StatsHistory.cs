using System.Text.Json;

namespace Storage.CacheProg.Cache;

/// <summary>The counters of recent sessions, kept in the local tier (<c>stats.json</c>) for <c>storage-cacheprog stats</c>.</summary>
public static class StatsHistory
{
    public const string FileName = "stats.json";
    private const int Kept = 50;

    public static IReadOnlyList<SessionRecord> Read(string cacheDirectory)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(cacheDirectory, FileName)), CacheJsonContext.Default.ListSessionRecord) ?? [];
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Adds a session (keeping the last 50); concurrent sessions may lose one record, never corrupt the file.</summary>
    public static void Append(string cacheDirectory, SessionRecord record)
    {
        var records = Read(cacheDirectory).Append(record).TakeLast(Kept).ToList();
        var temporary = Path.Combine(cacheDirectory, $"{FileName}.{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(records, CacheJsonContext.Default.ListSessionRecord));
            File.Move(temporary, Path.Combine(cacheDirectory, FileName), overwrite: true);
        }
        catch (IOException)
        {
            File.Delete(temporary);
        }
    }
}
