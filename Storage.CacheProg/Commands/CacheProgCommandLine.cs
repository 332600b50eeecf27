using System.CommandLine;
using System.Globalization;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Commands;

/// <summary>
/// The commands: none (the full GOCACHEPROG on stdin/stdout), <c>serve</c>, <c>connect</c> (handled before this
/// parser runs), <c>clean</c>, <c>stats</c>. Settings come from flags, then the environment: the workshop's
/// <c>S3_ENDPOINT</c>, <c>S3_ACCESS_KEY_ID</c>, <c>S3_SECRET_ACCESS_KEY</c>, <c>S3_SESSION_TOKEN</c>, <c>S3_BUCKET_NAME</c>,
/// and Aspire's service discovery (<c>services__gateway__http__0</c>). Secrets are read from the environment only,
/// so they never show in a process list.
/// </summary>
public static class CacheProgCommandLine
{
    private static readonly Option<string> Dir = new("--dir") { Description = "Local tier folder", Recursive = true, DefaultValueFactory = _ => CacheProgOptions.DefaultCacheDirectory };
    private static readonly Option<string?> Endpoint = new("--endpoint") { Description = "S3 endpoint URL of the remote tier (default: $S3_ENDPOINT, or the AppHost's gateway)", Recursive = true };
    private static readonly Option<string?> Bucket = new("--bucket") { Description = "Remote bucket (default: $S3_BUCKET_NAME)", Recursive = true };
    private static readonly Option<string> Prefix = new("--prefix") { Description = "Prefix of every remote key, e.g. per project or GOOS/GOARCH", Recursive = true, DefaultValueFactory = _ => Environment.GetEnvironmentVariable("S3_PREFIX") ?? string.Empty };
    private static readonly Option<string> Region = new("--region") { Description = "Region to sign for", Recursive = true, DefaultValueFactory = _ => Environment.GetEnvironmentVariable("S3_REGION") ?? "us-east-1" };
    private static readonly Option<bool> ReadOnly = new("--read-only") { Description = "Read the remote tier, never write to it", Recursive = true };
    private static readonly Option<long> MaxLocal = new("--max-local-mb") { Description = "Trim the local tier (least recently used first) above this many MB; 0 = unlimited", Recursive = true, DefaultValueFactory = _ => 10_240 };
    private static readonly Option<int> UploadConcurrency = new("--upload-concurrency") { Description = "Parallel uploads", Recursive = true, DefaultValueFactory = _ => 16 };
    private static readonly Option<double> CloseTimeout = new("--close-timeout") { Description = "Seconds direct mode uploads by itself at close when no worker takes its uploads; a worker's time for them at shutdown", Recursive = true, DefaultValueFactory = _ => 10 };
    private static readonly Option<bool> NoWorker = new("--no-worker") { Description = "Direct mode: upload at close (up to --close-timeout) instead of handing uploads to a worker; the default when $CI is set", Recursive = true };
    private static readonly Option<double> WorkerIdleExit = new("--worker-idle-exit") { Description = "Seconds a worker started by direct mode stays with nothing to do", Recursive = true, DefaultValueFactory = _ => 300 };
    private static readonly Option<double> RemoteTimeout = new("--remote-timeout") { Description = "Seconds before a remote request counts as failed", Recursive = true, DefaultValueFactory = _ => 5 };
    private static readonly Option<double> RefreshAfter = new("--refresh-after")
    {
        Description = "Seconds after which a hit writes its remote entry again, so a lifecycle rule expiring entries not written for longer never expires a used one (0: never)",
        Recursive = true,
        DefaultValueFactory = _ => TimeSpan.FromDays(1).TotalSeconds,
    };

    private static readonly Option<bool> NoPrefetch = new("--no-prefetch") { Description = "Never download ahead of the go command what recent builds' manifests name (on a metered link, say)", Recursive = true };
    private static readonly Option<bool> Quiet = new("--quiet") { Description = "No statistics on stderr at exit", Recursive = true };

    public static Task<int> InvokeAsync(string[] args)
    {
        var root = new RootCommand("Go build cache (GOCACHEPROG) with a local tier and an S3 tier. Without a command: the protocol on stdin/stdout.");
        foreach (var option in new Option[] { Dir, Endpoint, Bucket, Prefix, Region, ReadOnly, MaxLocal, UploadConcurrency, CloseTimeout, NoWorker, WorkerIdleExit, RemoteTimeout, RefreshAfter, NoPrefetch, Quiet })
        {
            root.Options.Add(option);
        }

        foreach (var seconds in new[] { CloseTimeout, WorkerIdleExit, RemoteTimeout, RefreshAfter })
        {
            AcceptSecondsOnly(seconds);
        }

        root.SetAction((parse, cancellationToken) => DirectCommand.RunAsync(OptionsFrom(parse), parse.GetValue(Quiet), cancellationToken));
        root.Subcommands.Add(ServeCommand.Create(OptionsFrom));
        root.Subcommands.Add(new Command("connect", "Thin GOCACHEPROG that relays to a running worker") { Arguments = { new Argument<string?>("address") { Arity = ArgumentArity.ZeroOrOne } } });
        root.Subcommands.Add(CleanCommand.Create(OptionsFrom));
        root.Subcommands.Add(StatsCommand.Create(OptionsFrom));
        return root.Parse(args).InvokeAsync();
    }

    private static CacheProgOptions OptionsFrom(ParseResult parse)
    {
        var endpoint = parse.GetValue(Endpoint)
            ?? Environment.GetEnvironmentVariable("S3_ENDPOINT")
            ?? Environment.GetEnvironmentVariable("services__gateway__https__0")
            ?? Environment.GetEnvironmentVariable("services__gateway__http__0");
        return new CacheProgOptions
        {
            CacheDirectory = parse.GetValue(Dir)!,
            Endpoint = endpoint is { Length: > 0 } ? new Uri(endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint) : null,
            AccessKey = Environment.GetEnvironmentVariable("S3_ACCESS_KEY_ID"),
            SecretKey = Environment.GetEnvironmentVariable("S3_SECRET_ACCESS_KEY"),
            SessionToken = Environment.GetEnvironmentVariable("S3_SESSION_TOKEN"),
            Bucket = parse.GetValue(Bucket) ?? Environment.GetEnvironmentVariable("S3_BUCKET_NAME"),
            Prefix = parse.GetValue(Prefix)!,
            Region = parse.GetValue(Region)!,
            ReadOnly = parse.GetValue(ReadOnly),
            MaxLocalBytes = parse.GetValue(MaxLocal) * 1024 * 1024,
            UploadConcurrency = Math.Max(1, parse.GetValue(UploadConcurrency)),
            CloseTimeout = TimeSpan.FromSeconds(parse.GetValue(CloseTimeout)),
            StartWorker = !parse.GetValue(NoWorker) && !InContinuousIntegration,
            WorkerIdleExit = TimeSpan.FromSeconds(parse.GetValue(WorkerIdleExit)),
            RemoteTimeout = TimeSpan.FromSeconds(parse.GetValue(RemoteTimeout)),
            Prefetch = !parse.GetValue(NoPrefetch),
            RefreshAfter = TimeSpan.FromSeconds(parse.GetValue(RefreshAfter)),
        };
    }

    /// <summary>
    /// $CI is true (GitHub Actions, GitLab CI, CircleCI, Travis, Buildkite and others set it): the job's machine or
    /// container may be gone the moment the build ends, and a worker's uploads with it, so direct mode uploads before
    /// it lets the build go.
    /// </summary>
    private static bool InContinuousIntegration =>
        Environment.GetEnvironmentVariable("CI") is { } ci && (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    /// <summary>Refuses, with a clear message, a value that is not a usable number of seconds.</summary>
    public static void AcceptSecondsOnly(Option<double> option) =>
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<double>() is var value && (value < 0 || !double.IsFinite(value) || value > TimeSpan.MaxValue.TotalSeconds / 2))
            {
                result.AddError($"{result.Option.Name} must be a number of seconds, 0 or more.");
            }
        });

    /// <summary>Formats a byte count for people.</summary>
    public static string Megabytes(long bytes) => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB";
}
