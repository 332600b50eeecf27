using System.Security.Cryptography;
using Storage.CacheProg.Cache;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>The local tier on a real folder.</summary>
public sealed class LocalTierTests : IDisposable
{
    private readonly TempDirectory _folder = new("cacheprog-local");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_hit_renews_an_entry_last_used_over_an_hour_ago_and_leaves_a_recent_one_alone()
    {
        using var local = new LocalTier(_folder.Path, maxBytes: 0);
        var (stale, staleBody) = await PutAsync(local, 1);
        var (recent, recentBody) = await PutAsync(local, 2);
        var twoHoursAgo = DateTime.UtcNow.AddHours(-2);
        var tenMinutesAgo = DateTime.UtcNow.AddMinutes(-10);
        File.SetLastWriteTimeUtc(staleBody, twoHoursAgo);
        File.SetLastWriteTimeUtc(recentBody, tenMinutesAgo);

        Assert.NotNull(local.Get(stale));
        Assert.NotNull(local.Get(recent));

        // The stale one counts as used now (trimming keeps it over older ones); the recent one costs no write.
        Assert.True(File.GetLastWriteTimeUtc(staleBody) > DateTime.UtcNow.AddMinutes(-1));
        Assert.Equal(tenMinutesAgo, File.GetLastWriteTimeUtc(recentBody), TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Trimming_removes_the_least_recently_used_but_never_a_body_used_within_the_hour()
    {
        using var local = new LocalTier(_folder.Path, maxBytes: 50);
        var (_, oldest) = await PutAsync(local, 1);
        var (_, older) = await PutAsync(local, 2);
        var (_, recent) = await PutAsync(local, 3);
        File.SetLastWriteTimeUtc(oldest, DateTime.UtcNow.AddHours(-3));
        File.SetLastWriteTimeUtc(older, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(recent, DateTime.UtcNow.AddMinutes(-50));

        // 300 bytes against a limit of 50: trimming would go down to 45, oldest first, but stops at what a build
        // running now may be reading, over the limit or not.
        Assert.Equal(200, local.Trim());
        Assert.False(File.Exists(oldest));
        Assert.False(File.Exists(older));
        Assert.True(File.Exists(recent));
    }

    [Fact]
    public async Task Trimming_stops_at_ninety_percent_of_the_limit()
    {
        using var local = new LocalTier(_folder.Path, maxBytes: 250);
        var bodies = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var (_, body) = await PutAsync(local, 10 + i);
            File.SetLastWriteTimeUtc(body, DateTime.UtcNow.AddHours(-5 + i));
            bodies.Add(body);
        }

        // 400 bytes against 250: down to 225 at most, so the two oldest go and the two newer stay.
        Assert.Equal(200, local.Trim());
        Assert.Equal([false, false, true, true], bodies.Select(File.Exists));
    }

    /// <summary>Puts a 100-byte body made from <paramref name="seed"/> under a new action id, as a put does.</summary>
    internal static async Task<(byte[] ActionId, string BodyPath)> PutAsync(LocalTier local, int seed)
    {
        var body = TestData.Bytes(100, seed);
        var temporary = local.NewTemporaryPath();
        await File.WriteAllBytesAsync(temporary, body);
        var actionId = RandomNumberGenerator.GetBytes(32);
        var path = await local.PutAsync(actionId, ActionEntry.Create(SHA256.HashData(body), body.Length, DateTimeOffset.UtcNow), temporary, CancellationToken.None);
        return (actionId, path);
    }
}
