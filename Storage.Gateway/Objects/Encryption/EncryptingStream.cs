using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Plaintext in, ciphertext out: AES-256-GCM per block of <c>blockSize</c> bytes, the nonce the block's index, the
/// associated data whether it is the part's last block (so a part cut short at a block boundary fails to decrypt). One
/// block of look-ahead tells which block is last. Also digests the plaintext: its MD5 is S3's ETag, and a Content-MD5
/// that does not match fails the read at the end of the body, before the writer can finish.
/// </summary>
public sealed class EncryptingStream : ReadOnlyStream
{
    private readonly Stream _source;
    private readonly AesGcm _aes;
    private readonly byte[]? _expectedMd5;
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly byte[] _output;
    private byte[] _current;
    private byte[] _next;
    private int _nextFilled = -1;
    private int _outputStart;
    private int _outputEnd;
    private long _block;

    public EncryptingStream(Stream source, byte[] dataKey, int blockSize, byte[]? expectedMd5)
    {
        _source = source;
        _aes = new AesGcm(dataKey, EncryptedLayout.TagBytes);
        _expectedMd5 = expectedMd5;
        _current = new byte[blockSize];
        _next = new byte[blockSize];
        _output = new byte[blockSize + EncryptedLayout.TagBytes];
    }

    /// <summary>The plaintext's MD5, once the stream has ended.</summary>
    public byte[]? PlaintextMd5 { get; private set; }

    public long PlaintextLength { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_outputStart == _outputEnd && !await EncryptNextAsync(cancellationToken))
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, _outputEnd - _outputStart);
        _output.AsMemory(_outputStart, count).CopyTo(buffer);
        _outputStart += count;
        return count;
    }

    private async ValueTask<bool> EncryptNextAsync(CancellationToken cancellationToken)
    {
        if (_nextFilled < 0)
        {
            _nextFilled = await FillAsync(_next, cancellationToken);
        }

        if (_nextFilled == 0)
        {
            Finish();
            return false;
        }

        (_current, _next) = (_next, _current);
        var length = _nextFilled;
        _nextFilled = length == _current.Length ? await FillAsync(_next, cancellationToken) : 0;
        var last = _nextFilled == 0;
        _md5.AppendData(_current, 0, length);
        PlaintextLength += length;
        if (last)
        {
            Finish();
        }

        Span<byte> nonce = stackalloc byte[12];
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], _block++);
        _aes.Encrypt(nonce, _current.AsSpan(0, length), _output.AsSpan(0, length), _output.AsSpan(length, EncryptedLayout.TagBytes), last ? BlockCipher.LastBlock : BlockCipher.InnerBlock);
        (_outputStart, _outputEnd) = (0, length + EncryptedLayout.TagBytes);
        return true;
    }

    private void Finish()
    {
        if (PlaintextMd5 is not null)
        {
            return;
        }

        PlaintextMd5 = _md5.GetHashAndReset();
        if (_expectedMd5 is not null && !PlaintextMd5.AsSpan().SequenceEqual(_expectedMd5))
        {
            throw new ContentDigestMismatchException("Content-MD5");
        }
    }

    private async ValueTask<int> FillAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        int read;
        while (filled < buffer.Length && (read = await _source.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
        {
            filled += read;
        }

        return filled;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _aes.Dispose();
            _md5.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The associated data of a block: whether it ends its part.</summary>
internal static class BlockCipher
{
    public static ReadOnlySpan<byte> LastBlock => [1];

    public static ReadOnlySpan<byte> InnerBlock => [0];
}
