using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Ciphertext in (from the first block a range touches), plaintext out: each block's tag is checked before any of its
/// bytes are returned, so tampered or misplaced ciphertext fails the read and is never served as data.
/// </summary>
public sealed class DecryptingStream(Stream ciphertext, IReadOnlyList<byte[]> dataKeys, IReadOnlyList<long> partSizes, int blockSize, CiphertextRange start, long length, string name) : ReadOnlyStream
{
    private readonly byte[] _cipher = new byte[blockSize + EncryptedLayout.TagBytes];
    private readonly byte[] _plain = new byte[blockSize];
    private AesGcm? _aes;
    private int _aesPart = -1;
    private int _part = start.Part;
    private long _block = start.Block;
    private long _skip = start.Skip;
    private long _remaining = length;
    private int _plainStart;
    private int _plainEnd;

    /// <summary>Decrypts the first block, so a read that cannot be served fails before a response has started.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (_remaining > 0)
        {
            await DecryptNextAsync(cancellationToken);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_plainStart == _plainEnd)
        {
            if (_remaining == 0)
            {
                return 0;
            }

            await DecryptNextAsync(cancellationToken);
        }

        var count = Math.Min(buffer.Length, _plainEnd - _plainStart);
        _plain.AsMemory(_plainStart, count).CopyTo(buffer);
        _plainStart += count;
        return count;
    }

    private async Task DecryptNextAsync(CancellationToken cancellationToken)
    {
        while (_block * blockSize >= partSizes[_part])
        {
            (_part, _block) = (_part + 1, 0);
        }

        var blockLength = (int)Math.Min(blockSize, partSizes[_part] - (_block * blockSize));
        await ciphertext.ReadExactlyAsync(_cipher.AsMemory(0, blockLength + EncryptedLayout.TagBytes), cancellationToken);
        if (_aesPart != _part)
        {
            _aes?.Dispose();
            (_aes, _aesPart) = (new AesGcm(dataKeys[_part], EncryptedLayout.TagBytes), _part);
        }

        Span<byte> nonce = stackalloc byte[12];
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], _block);
        var last = (_block + 1) * blockSize >= partSizes[_part];
        try
        {
            _aes!.Decrypt(nonce, _cipher.AsSpan(0, blockLength), _cipher.AsSpan(blockLength, EncryptedLayout.TagBytes), _plain.AsSpan(0, blockLength), last ? BlockCipher.LastBlock : BlockCipher.InnerBlock);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new DataUnavailableException($"Block {_block} of part {_part + 1} of '{name}' failed its authentication: the stored ciphertext was changed; nothing of it was served.");
        }

        _block++;
        _plainStart = (int)_skip;
        _skip = 0;
        _plainEnd = (int)Math.Min(blockLength, _plainStart + _remaining);
        _remaining -= _plainEnd - _plainStart;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _aes?.Dispose();
            ciphertext.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _aes?.Dispose();
        await ciphertext.DisposeAsync();
        await base.DisposeAsync();
    }
}
