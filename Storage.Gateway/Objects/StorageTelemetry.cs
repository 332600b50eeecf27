using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Storage.Gateway.Objects;

/// <summary>The gateway's own spans and metrics (exported by ServiceDefaults under the Storage.* pattern).</summary>
public sealed class StorageTelemetry : IDisposable
{
    public const string Name = "Storage.Gateway";

    private readonly Meter _meter;

    public StorageTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        BytesWritten = _meter.CreateCounter<long>("storage.object.bytes_written", "By", "Object bytes accepted by the object layer");
        BytesRead = _meter.CreateCounter<long>("storage.object.bytes_read", "By", "Object bytes served by the object layer");
        Reconstructions = _meter.CreateCounter<long>("storage.stripe.reconstructions", "{stripe}", "Stripes rebuilt from parity on read");
        CorruptBlocks = _meter.CreateCounter<long>("storage.part.corrupt_blocks", "{block}", "Blocks whose checksum did not match");
        LifecycleScanned = _meter.CreateCounter<long>("storage.lifecycle.scanned", "{object}", "Objects the lifecycle expirer judged");
        LifecycleExpired = _meter.CreateCounter<long>("storage.lifecycle.expired", "{object}", "Objects the lifecycle rules expired");
        LifecycleUploadsAborted = _meter.CreateCounter<long>("storage.lifecycle.uploads_aborted", "{upload}", "Multipart uploads the lifecycle rules aborted");
    }

    public static ActivitySource Source { get; } = new(Name);

    public Counter<long> BytesWritten { get; }

    public Counter<long> BytesRead { get; }

    public Counter<long> Reconstructions { get; }

    public Counter<long> CorruptBlocks { get; }

    public Counter<long> LifecycleScanned { get; }

    public Counter<long> LifecycleExpired { get; }

    public Counter<long> LifecycleUploadsAborted { get; }

    public void Dispose() => _meter.Dispose();
}
