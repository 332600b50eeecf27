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
        var local = new LocalTier(_folder.Path, maxBytes: 0);
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

    private static async Task<(byte[] ActionId, string BodyPath)> PutAsync(LocalTier local, int seed)
    {
        var body = TestData.Bytes(100, seed);
        var temporary = local.NewTemporaryPath();
        await File.WriteAllBytesAsync(temporary, body);
        var actionId = RandomNumberGenerator.GetBytes(32);
        var path = await local.PutAsync(actionId, ActionEntry.Create(SHA256.HashData(body), body.Length, DateTimeOffset.UtcNow), temporary, durable: false, CancellationToken.None);
        return (actionId, path);
    }
}
