namespace Storage.Gateway.Maintenance;

/// <summary>
/// One healing pass: what it scanned, what was under-protected, what it repaired; parts found missing on nodes it
/// verified (an emptied node's, or a scrub's finds), and the nodes whose contents it verified complete.
/// </summary>
public sealed record HealReport(
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    long ObjectsScanned,
    long UnderProtectedObjects,
    long PartsRebuilt,
    long PartsFailed,
    long StillUnderProtected,
    IReadOnlyList<string> LostNodes,
    long PartsMissing = 0,
    IReadOnlyList<string>? NodesVerified = null,
    string? Skipped = null);

/// <summary>One rebalancing pass: what moved and how far apart the nodes' fill is before and after.</summary>
public sealed record RebalanceReport(
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    long PartsMoved,
    long BytesMoved,
    double SpreadBefore,
    double SpreadAfter,
    bool Balanced,
    string? Skipped = null)
{
    public double MegabytesPerSecond => (FinishedAt - StartedAt).TotalSeconds is > 0 and var seconds ? BytesMoved / seconds / 1e6 : 0;
}

/// <summary>The latest pass of each kind on this gateway, and whether one is running now (for /admin/health).</summary>
public sealed class MaintenanceStatus
{
    private HealReport? _lastHeal;
    private RebalanceReport? _lastRebalance;
    private int _healing;
    private int _rebalancing;

    public HealReport? LastHeal => Volatile.Read(ref _lastHeal);

    public RebalanceReport? LastRebalance => Volatile.Read(ref _lastRebalance);

    public bool Healing => Volatile.Read(ref _healing) != 0;

    public bool Rebalancing => Volatile.Read(ref _rebalancing) != 0;

    public void Record(HealReport report) => Volatile.Write(ref _lastHeal, report);

    public void Record(RebalanceReport report) => Volatile.Write(ref _lastRebalance, report);

    public IDisposable MarkHealing() => new Flag(this, heal: true);

    public IDisposable MarkRebalancing() => new Flag(this, heal: false);

    private sealed class Flag : IDisposable
    {
        private readonly MaintenanceStatus _status;
        private readonly bool _heal;

        public Flag(MaintenanceStatus status, bool heal)
        {
            (_status, _heal) = (status, heal);
            Interlocked.Increment(ref heal ? ref status._healing : ref status._rebalancing);
        }

        public void Dispose() => Interlocked.Decrement(ref _heal ? ref _status._healing : ref _status._rebalancing);
    }
}

/// <summary>Identifies this gateway process: as a lease holder, and to clients as the S3 host id (<c>x-amz-id-2</c>).</summary>
public sealed record GatewayInstance(string Id)
{
    /// <summary>What MinIO sends as <c>x-amz-id-2</c>: a hash naming the serving host, so replicas can be told apart without revealing anything.</summary>
    public string HostId { get; } = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Id)));

    public static GatewayInstance Create() => new($"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}");
}
