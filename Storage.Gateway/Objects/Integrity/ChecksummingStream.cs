using Storage.Gateway.Metadata;

namespace Storage.Gateway.Objects.Integrity;

/// <summary>Computes an S3 checksum of everything read through it (a part copied into an upload that has a checksum algorithm).</summary>
public sealed class ChecksummingStream(Stream inner, PayloadChecksum checksum) : ReadOnlyStream
{
    /// <summary>The checksum of what was read, as S3 spells it.</summary>
    public ObjectChecksum Result => new(checksum.Algorithm, checksum.GetBase64());

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        checksum.Append(buffer.Span[..read]);
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            checksum.Dispose();
        }

        base.Dispose(disposing);
    }
}
