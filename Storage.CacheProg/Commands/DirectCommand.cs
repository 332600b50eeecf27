using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;

namespace Storage.CacheProg.Commands;

/// <summary>
/// No command: what <c>GOCACHEPROG=storage-cacheprog</c> runs. The protocol on stdin/stdout in this process; at close,
/// pending uploads get up to the close timeout; statistics go to stderr and the stats history.
/// </summary>
public static class DirectCommand
{
    public static async Task<int> RunAsync(CacheProgOptions options, bool quiet, CancellationToken cancellationToken)
    {
        await using var cache = new CacheService(options, Console.Error, drainOnClose: true);
        await using var stdin = new InlineReadStream(Console.OpenStandardInput());
        await using var stdout = Console.OpenStandardOutput();
        var closed = await new ProtocolSession(cache, Console.Error, inlineWrites: true).RunAsync(stdin, stdout, cancellationToken);
        if (!quiet)
        {
            await Console.Error.WriteLineAsync(cache.Stats.Summary());
        }

        StatsHistory.Append(options.CacheDirectory, cache.Stats.ToRecord());
        await cache.TrimAsync();
        return closed ? 0 : 1;
    }
}
