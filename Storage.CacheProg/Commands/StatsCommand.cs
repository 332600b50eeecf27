using System.CommandLine;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Commands;

/// <summary><c>storage-cacheprog stats</c>: the local tier's size and entries, and the hit rates of recent sessions.</summary>
public static class StatsCommand
{
    public static Command Create(Func<ParseResult, CacheProgOptions> options)
    {
        var command = new Command("stats", "Local tier size and entries, hit rate of recent sessions");
        command.SetAction(parse =>
        {
            var settings = options(parse);
            var local = new LocalTier(settings.CacheDirectory, settings.MaxLocalBytes);
            var (bytes, bodies) = local.Measure();
            Console.WriteLine($"Local tier {local.Root}: {bodies} entries, {CacheProgCommandLine.Megabytes(bytes)} (limit {(settings.MaxLocalBytes > 0 ? CacheProgCommandLine.Megabytes(settings.MaxLocalBytes) : "none")}).");
            var sessions = StatsHistory.Read(settings.CacheDirectory);
            if (sessions.Count == 0)
            {
                Console.WriteLine("No sessions recorded yet.");
                return 0;
            }

            Console.WriteLine($"Last {sessions.Count} sessions:");
            foreach (var s in sessions.TakeLast(10))
            {
                Console.WriteLine($"  {s.Ended:u}  {s.Gets,6} gets  {HitRate(s.LocalHits + s.RemoteHits, s.Gets),6} hits ({s.LocalHits} local, {s.RemoteHits} remote)  {s.Puts,6} puts  {s.Uploads,6} uploads  {s.Errors} errors");
            }

            Console.WriteLine($"Hit rate over {sessions.Count} sessions: {HitRate(sessions.Sum(s => s.LocalHits + s.RemoteHits), sessions.Sum(s => s.Gets))}.");
            return 0;
        });
        return command;
    }

    private static string HitRate(long hits, long gets) => gets == 0 ? "-" : $"{(double)hits / gets:P0}";
}
