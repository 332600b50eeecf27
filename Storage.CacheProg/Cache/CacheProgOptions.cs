namespace Storage.CacheProg.Cache;

/// <summary>
/// Everything the cache program can be told, from flags or the environment (flags win). The remote tier is on when
/// an endpoint and a bucket are known.
/// </summary>
public sealed record CacheProgOptions
{
    /// <summary>The local tier's folder.</summary>
    public required string CacheDirectory { get; init; }

    public Uri? Endpoint { get; init; }

    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    public string? SessionToken { get; init; }

    public string? Bucket { get; init; }

    public string Region { get; init; } = "us-east-1";

    /// <summary>Prepended to every remote key (e.g. per project, OS or architecture).</summary>
    public string Prefix { get; init; } = string.Empty;

    /// <summary>Read the remote, never write to it (CI branches that must not populate the shared cache).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>The local tier is trimmed, least recently used first, to stay under this size. 0 = unlimited.</summary>
    public long MaxLocalBytes { get; init; } = 10L * 1024 * 1024 * 1024;

    public int UploadConcurrency { get; init; } = 16;

    /// <summary>Uploads waiting beyond this are dropped (and counted), so a slow remote never holds a build back.</summary>
    public int UploadQueueCapacity { get; init; } = 10_000;

    /// <summary>How long <c>close</c> waits for queued uploads in direct mode before exiting anyway.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Direct mode hands its uploads to the folder's worker, starting one if none runs (else it uploads them itself at close).</summary>
    public bool StartWorker { get; init; } = true;

    /// <summary>A worker that direct mode starts exits after this long with nothing to do.</summary>
    public TimeSpan WorkerIdleExit { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A build's first local miss starts downloading what the newest build manifests name (see <see cref="BuildManifest"/>).</summary>
    public bool Prefetch { get; init; } = true;

    /// <summary>
    /// A hit on an entry whose remote copy was written longer ago than this writes it again (the entry, and the body
    /// if it too is that old), so a lifecycle rule that expires what was not written for longer (see the README) never
    /// expires an entry builds use. Zero: never.
    /// </summary>
    public TimeSpan RefreshAfter { get; init; } = TimeSpan.FromDays(1);

    /// <summary>A remote request taking longer than this is abandoned (a get becomes a miss).</summary>
    public TimeSpan RemoteTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public bool RemoteEnabled => Endpoint is not null && !string.IsNullOrEmpty(Bucket);

    /// <summary>The default local folder: $XDG_CACHE_HOME (or ~/.cache)/storage-cacheprog.</summary>
    public static string DefaultCacheDirectory =>
        Path.Combine(
            Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
            "storage-cacheprog");

    public override string ToString() =>
        $"local {CacheDirectory}; remote {(RemoteEnabled ? $"{Endpoint} bucket {Bucket} prefix '{Prefix}'{(ReadOnly ? " (read-only)" : string.Empty)}" : "off")}";
}
