using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Plaintext in, ciphertext out: AES-256-GCM per block of <c>blockSize</c> bytes, the nonce the block's index, the
/// associated data whether it is the part's last block (so a part cut short at a block boundary fails to decrypt). One
/// chunk of look-ahead tells which block is last. With <c>digest</c>, also the plaintext's MD5 (S3's ETag; a Content-MD5
/// that does not match fails the read before the last block, so the writer never finishes), on another core while
/// the chunk is encrypted, as the writer digests stripes. Work goes by chunks of blocks (about 1 MiB), so the digest
/// costs one task per chunk, not per block. Buffers are pooled and sized to the object: a small one costs no large
/// allocation.
/// </summary>
public sealed class EncryptingStream : ReadOnlyStream
{
    private const int ChunkBytes = 1024 * 1024;

    private readonly Stream _source;
    private readonly AesGcm _aes;
    private readonly byte[]? _expectedMd5;
    private readonly IncrementalHash? _md5;
    private readonly int _blockSize;
    private readonly int _chunk;
    private readonly byte[] _output;
    private byte[] _current;
    private byte[] _next;
    private Task _digesting = Task.CompletedTask;
    private int _nextFilled = -1;
    private int _outputStart;
    private int _outputEnd;
    private long _block;
    private bool _finished;
    private bool _sourceEnded;

    public EncryptingStream(Stream source, byte[] dataKey, int blockSize, long? length, bool digest, byte[]? expectedMd5)
    {
        _source = source;
        _aes = new AesGcm(dataKey, EncryptedLayout.TagBytes);

        // The cipher keeps its own copy; the plain key goes no further than this (its wrapped form is in the envelope).
        CryptographicOperations.ZeroMemory(dataKey);
        _md5 = digest || expectedMd5 is not null ? IncrementalHash.CreateHash(HashAlgorithmName.MD5) : null;
        _expectedMd5 = expectedMd5;
        _blockSize = blockSize;
        _chunk = Math.Max(1, ChunkBytes / blockSize) * blockSize;
        var buffer = (int)Math.Clamp(length ?? _chunk, 1, _chunk);
        _current = ArrayPool<byte>.Shared.Rent(buffer);
        _next = ArrayPool<byte>.Shared.Rent(buffer);
        _output = ArrayPool<byte>.Shared.Rent((int)EncryptedLayout.CiphertextLength(buffer, blockSize));
    }

    /// <summary>The plaintext's MD5, once the stream has ended (null without a digest).</summary>
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
            await FinishAsync();
            return false;
        }

        (_current, _next) = (_next, _current);
        var length = _nextFilled;

        // The buffer about to be refilled held the previous chunk, whose digest may still be running.
        await _digesting;
        _nextFilled = length == _chunk ? await FillAsync(_next, cancellationToken) : 0;
        var last = _nextFilled == 0;
        PlaintextLength += length;
        if (last)
        {
            await ReadToEndAsync(cancellationToken);
        }

        if (_md5 is { } md5)
        {
            var block = _current;
            _digesting = Task.Run(() => md5.AppendData(block, 0, length), CancellationToken.None);
        }

        if (last)
        {
            await FinishAsync();
        }

        Encrypt(length, last);
        return true;
    }

    /// <summary>Encrypts the chunk's blocks into the output; only the last block of the last chunk says it is last.</summary>
    private void Encrypt(int length, bool lastChunk)
    {
        Span<byte> nonce = stackalloc byte[12];
        var written = 0;
        for (var offset = 0; offset < length; offset += _blockSize)
        {
            var block = Math.Min(_blockSize, length - offset);
            var last = lastChunk && offset + block == length;
            BinaryPrimitives.WriteInt64BigEndian(nonce[4..], _block++);
            _aes.Encrypt(nonce, _current.AsSpan(offset, block), _output.AsSpan(written, block), _output.AsSpan(written + block, EncryptedLayout.TagBytes), last ? BlockCipher.LastBlock : BlockCipher.InnerBlock);
            written += block + EncryptedLayout.TagBytes;
        }

        (_outputStart, _outputEnd) = (0, written);
    }

    private async Task FinishAsync()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        await _digesting;
        PlaintextMd5 = _md5?.GetHashAndReset();
        if (_expectedMd5 is not null && !PlaintextMd5.AsSpan().SequenceEqual(_expectedMd5))
        {
            throw new ContentDigestMismatchException("Content-MD5");
        }
    }

    private async ValueTask<int> FillAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        var capacity = Math.Min(buffer.Length, _chunk);
        while (filled < capacity)
        {
            var read = await _source.ReadAsync(buffer.AsMemory(filled, capacity - filled), cancellationToken);
            if (read == 0)
            {
                _sourceEnded = true;
                break;
            }

            filled += read;
        }

        return filled;
    }

    /// <summary>
    /// The source must be read to its end before the last block goes out: its checks (a signed SHA-256, checksum
    /// trailers, aws-chunked's final chunk, a body longer than declared) run on that final read. A buffer sized to the
    /// declared length fills exactly without seeing it.
    /// </summary>
    private async ValueTask ReadToEndAsync(CancellationToken cancellationToken)
    {
        if (_sourceEnded)
        {
            return;
        }

        var more = await _source.ReadAsync(_next.AsMemory(0, 1), cancellationToken);
        _sourceEnded = more == 0;
        if (more > 0)
        {
            throw new BodyLengthMismatchException(PlaintextLength, PlaintextLength + more);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        // A digest may still be reading a buffer when an error unwinds: let it finish before returning buffers.
        await _digesting.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        Release();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _digesting.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait();
            Release();
        }

        base.Dispose(disposing);
    }

    private void Release()
    {
        if (_current.Length == 0)
        {
            return;
        }

        _aes.Dispose();
        _md5?.Dispose();
        ArrayPool<byte>.Shared.Return(_current);
        ArrayPool<byte>.Shared.Return(_next);
        ArrayPool<byte>.Shared.Return(_output);
        _current = _next = [];
    }
}

/// <summary>The associated data of a block: whether it ends its part.</summary>
internal static class BlockCipher
{
    public static ReadOnlySpan<byte> LastBlock => [1];

    public static ReadOnlySpan<byte> InnerBlock => [0];
}
