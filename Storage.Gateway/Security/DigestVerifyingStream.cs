using System.Security.Cryptography;
using Storage.Gateway.Api;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Integrity;

namespace Storage.Gateway.Security;

/// <summary>
/// Passes a body through while digesting it; at its end compares the digest with the expected value (known up front
/// from a header, or only then from an aws-chunked trailer) and fails the read on a mismatch, so the write that
/// consumes the stream stores nothing.
/// </summary>
public sealed class DigestVerifyingStream(Stream inner, PayloadChecksum digest, Func<byte[]?> expected, string name) : ReadOnlyStream
{
    private bool _verified;

    /// <summary>The verified checksum; set once the body has been read to its end.</summary>
    public PayloadChecksum Digest => digest;

    public bool Verified => _verified;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        if (read > 0)
        {
            digest.Append(buffer.Span[..read]);
        }
        else if (!_verified)
        {
            var value = expected() ?? throw new InvalidRequestBodyException($"The body ended without the {name} it announced. Nothing was stored.");
            if (!CryptographicOperations.FixedTimeEquals(value, digest.GetValue()))
            {
                throw new ContentDigestMismatchException(name);
            }

            _verified = true;
        }

        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            digest.Dispose();
        }

        base.Dispose(disposing);
    }
}
