using System.ComponentModel.DataAnnotations;

namespace Storage.Gateway.Hosting;

/// <summary>The <c>Storage</c> configuration section (see docs/configuration.md).</summary>
public sealed class StorageOptions : IValidatableObject
{
    public const string Section = "Storage";

    /// <summary>Root of the embedded default: the SQLite file and the default folder nodes. Relative paths are under the content root.</summary>
    [Required]
    public string DataPath { get; set; } = "data";

    /// <summary>Data parts per stripe (k).</summary>
    [Range(1, 64)]
    public int DataShards { get; set; } = 6;

    /// <summary>Parity parts per stripe (m): how many lost nodes every object survives.</summary>
    [Range(0, 64)]
    public int ParityShards { get; set; } = 2;

    /// <summary>Objects smaller than this are stored as ParityShards + 1 full copies instead of striped; 0 stripes everything.</summary>
    [Range(0, long.MaxValue)]
    public long SmallObjectThreshold { get; set; } = 128 * 1024;

    /// <summary>
    /// Objects of at most this many bytes are kept in their metadata record instead of on the nodes; 0 keeps every
    /// object on the nodes. With Redis metadata these bytes live in Redis's memory.
    /// </summary>
    [Range(0, MaxInlineObjectLimit)]
    public int InlineObjectLimit { get; set; } = 4096;

    /// <summary>The largest allowed <see cref="InlineObjectLimit"/>: records stay small enough to list and replicate cheaply.</summary>
    public const int MaxInlineObjectLimit = 64 * 1024;

    /// <summary>Largest block of one part per stripe; a stripe carries DataShards × BlockSize bytes of data.</summary>
    [Range(4096, 16 * 1024 * 1024)]
    public int BlockSize { get; set; } = 256 * 1024;

    /// <summary>Folder nodes by id (<c>Storage:Nodes:node1=/srv/node1</c>). Empty means eight folders under DataPath.</summary>
    public Dictionary<string, string> Nodes { get; set; } = [];

    /// <summary>How many folder nodes the embedded default creates when none are configured: one per part of a stripe.</summary>
    public int DefaultNodeCount => DataShards + ParityShards;

    /// <summary>Bearer key for /admin from non-loopback clients; unset, /admin answers loopback clients only. Never logged.</summary>
    public string? AdminKey { get; set; }

    /// <summary>Prefix of every Redis key the gateway uses (when metadata is in Redis), so a Redis can be shared.</summary>
    public string RedisKeyPrefix { get; set; } = Metadata.Redis.RedisMetadataStore.DefaultKeyPrefix;

    /// <summary>
    /// With SQLite metadata: how many bytes of recently read object records (inline bytes included) the gateway keeps in
    /// memory, so small GETs skip the query; 0 reads every record from SQLite. Redis metadata is never cached.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MetadataCacheBytes { get; set; } = Metadata.Sqlite.SqliteMetadataStore.DefaultRecordCacheBytes;

    /// <summary>
    /// How long a gateway serves a bucket setting every request consults (policy, CORS rules, default encryption) before
    /// reading it again: a change through another replica applies here within this time (S3's are eventually consistent
    /// too); through this one, at once.
    /// </summary>
    public TimeSpan BucketSettingsRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    public MaintenanceOptions Maintenance { get; set; } = new();

    public RestApiOptions RestApi { get; set; } = new();

    public S3Options S3 { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DataShards + ParityShards > 256)
        {
            yield return new ValidationResult("DataShards + ParityShards must not exceed 256.", [nameof(DataShards), nameof(ParityShards)]);
        }

        if (SmallObjectThreshold > BlockSize)
        {
            yield return new ValidationResult("SmallObjectThreshold must not exceed BlockSize: a replicated object is one block.", [nameof(SmallObjectThreshold)]);
        }

        foreach (var id in Nodes.Keys.Where(id => !NodeIds.IsValid(id)))
        {
            yield return new ValidationResult($"Node id '{id}' must be 1-64 letters, digits, '-' or '_'.", [nameof(Nodes)]);
        }

        foreach (var problem in S3.ValidateCredentials())
        {
            yield return new ValidationResult(problem, [nameof(S3)]);
        }
    }
}

public sealed class MaintenanceOptions
{
    /// <summary>How long parts of a replaced or deleted object stay, so reads already in flight can finish.</summary>
    public TimeSpan ReclaimDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>An upload that has not committed or renewed its intent for this long is presumed crashed; its parts are swept.</summary>
    public TimeSpan AbandonedWriteAge { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan NodeProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A node down this long is treated as lost: healing rebuilds its parts elsewhere. Shorter outages (a restart) only degrade reads.</summary>
    public TimeSpan HealAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often a healing pass checks every object's protection.</summary>
    public TimeSpan HealInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often every node's contents are compared with what metadata places on it (missing parts are rebuilt).</summary>
    public TimeSpan ScrubInterval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// How long a maintenance lease (healing, rebalancing) lasts unless renewed; the holder renews it every third of
    /// this while it works, so another gateway takes over within this time of the holder dying.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the rebalancer checks whether nodes' fill has drifted apart.</summary>
    public TimeSpan RebalanceInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Every node's used bytes are brought within this fraction of the mean.</summary>
    [Range(0.01, 1.0)]
    public double RebalanceBand { get; set; } = 0.10;

    /// <summary>The rebalancer's copy rate limit, so it never starves client traffic. 0 = unlimited.</summary>
    [Range(0, long.MaxValue)]
    public long RebalanceBytesPerSecond { get; set; } = 64L * 1024 * 1024;
}

/// <summary>The buckets behind the original REST APIs; they are ordinary buckets, visible through S3 too.</summary>
public sealed class RestApiOptions
{
    public string ObjectsBucket { get; set; } = "objects";

    public string FilesBucket { get; set; } = "files";
}

/// <summary>The S3 API (<c>Storage:S3</c>).</summary>
public sealed class S3Options
{
    /// <summary>The region clients sign for; requests signed for another region are refused.</summary>
    [Required]
    public string Region { get; set; } = "us-east-1";

    /// <summary>
    /// Enables virtual-hosted-style addressing: a request for host <c>&lt;bucket&gt;.&lt;domain&gt;</c> addresses that
    /// bucket. Unset, only path-style (<c>/bucket/key</c>) is served.
    /// </summary>
    public string? VirtualHostDomain { get; set; }

    /// <summary>
    /// Access keys that may sign requests, each with what it may do. Empty: one administrator key pair is generated into
    /// the data folder on first start.
    /// </summary>
    public List<S3Credential> Credentials { get; set; } = [];

    /// <summary>Buckets whose objects anyone may read and list without signing.</summary>
    public List<string> PublicReadBuckets { get; set; } = [];

    /// <summary>Largest difference between a request's signing time and the gateway's clock.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A multipart upload neither completed nor aborted within this time is aborted and its parts deleted.</summary>
    public TimeSpan AbandonedUploadAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// A key that may do nothing is refused at start rather than accepted and then denied everything: a key listed
    /// without grants is a configuration mistake, and guessing "everything" for it would fail open.
    /// </summary>
    public IEnumerable<string> ValidateCredentials()
    {
        foreach (var duplicate in Credentials.GroupBy(c => c.AccessKey, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            yield return $"The access key '{duplicate.Key}' is configured more than once.";
        }

        foreach (var credential in Credentials)
        {
            if (string.IsNullOrEmpty(credential.AccessKey) || string.IsNullOrEmpty(credential.SecretKey))
            {
                yield return "Every S3:Credentials entry needs an AccessKey and a SecretKey.";
                continue;
            }

            if (!credential.Administrator && credential.Grants.Count == 0)
            {
                yield return $"The access key '{credential.AccessKey}' has no grants: set Administrator to true or list Grants (Bucket and Access: Read, Write or Admin).";
            }

            foreach (var grant in credential.Grants.Where(g => !Security.KeyGrants.IsValidPattern(g.Bucket)))
            {
                yield return $"The access key '{credential.AccessKey}' has a grant on '{grant.Bucket}', which is no bucket name, no prefix of one ending in '*', and not '*'.";
            }

            foreach (var grant in credential.Grants.Where(g => !Enum.IsDefined(g.Access)))
            {
                yield return $"The access key '{credential.AccessKey}' has a grant of access {(int)grant.Access} on '{grant.Bucket}': Access is Read, Write or Admin.";
            }
        }
    }
}

/// <summary>An access key, its secret (never logged or shown) and what it may do.</summary>
public sealed class S3Credential
{
    [Required]
    public string AccessKey { get; set; } = string.Empty;

    [Required]
    public string SecretKey { get; set; } = string.Empty;

    /// <summary>May do everything in every bucket, and use /admin by signing its requests.</summary>
    public bool Administrator { get; set; }

    /// <summary>What the key may do in which buckets (ignored for an administrator).</summary>
    public List<S3Grant> Grants { get; set; } = [];

    public override string ToString() => $"{AccessKey} (secret hidden)";
}

/// <summary>One grant of a key: an access level on the buckets a pattern names.</summary>
public sealed class S3Grant
{
    /// <summary>A bucket name, a prefix of bucket names ending in <c>*</c> (<c>ci-*</c>), or <c>*</c> for every bucket.</summary>
    [Required]
    public string Bucket { get; set; } = string.Empty;

    public Security.S3Access Access { get; set; } = Security.S3Access.Read;
}

public static class NodeIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string id) =>
        id.Length is >= 1 and <= MaxLength && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
