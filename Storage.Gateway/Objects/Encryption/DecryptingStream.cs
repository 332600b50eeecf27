using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Threading.Channels;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Ciphertext in (from the first block a range touches), plaintext out: each block's tag is checked before any of its
/// bytes are returned, so tampered or misplaced ciphertext fails the read and is never served as data. The first block
/// is decrypted before the answer starts; the rest are read and decrypted a few blocks ahead on another core while
/// earlier ones are sent. Buffers are pooled and no larger than the largest part.
/// </summary>
public sealed class DecryptingStream : ReadOnlyStream
{
    /// <summary>Blocks decrypted ahead of the reader: enough to keep both cores busy, bounded so memory is.</summary>
    private const int ReadAhead = 4;

    private readonly Stream _ciphertext;
    private readonly IReadOnlyList<byte[]> _dataKeys;
    private readonly IReadOnlyList<long> _partSizes;
    private readonly int _blockSize;
    private readonly int _bufferSize;
    private readonly string _name;
    private readonly Channel<Decrypted> _ready = Channel.CreateBounded<Decrypted>(new BoundedChannelOptions(ReadAhead) { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private byte[] _cipher;
    private AesGcm? _aes;
    private int _aesPart = -1;
    private int _part;
    private long _block;
    private long _skip;
    private long _remaining;
    private Decrypted? _current;
    private Task _producer = Task.CompletedTask;

    public DecryptingStream(Stream ciphertext, IReadOnlyList<byte[]> dataKeys, IReadOnlyList<long> partSizes, int blockSize, CiphertextRange start, long length, string name)
    {
        (_ciphertext, _dataKeys, _partSizes, _blockSize, _name) = (ciphertext, dataKeys, partSizes, blockSize, name);
        (_part, _block, _skip, _remaining) = (start.Part, start.Block, start.Skip, length);
        _bufferSize = (int)Math.Clamp(partSizes.Max(), 1, blockSize);
        _cipher = ArrayPool<byte>.Shared.Rent(_bufferSize + EncryptedLayout.TagBytes);
    }

    /// <summary>A block's plaintext in a pooled buffer, and the slice of it the reader gets.</summary>
    private sealed class Decrypted(byte[] buffer, int start, int end)
    {
        public byte[] Buffer { get; } = buffer;

        public int Start { get; set; } = start;

        public int End { get; } = end;
    }

    /// <summary>Decrypts the first block, so a read that cannot be served fails before a response has started; then reads ahead.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (_remaining == 0)
        {
            _ready.Writer.Complete();
            return;
        }

        _current = await DecryptNextAsync(cancellationToken);
        if (_remaining == 0)
        {
            _ready.Writer.Complete();
            return;
        }

        _producer = Task.Run(ProduceAsync, CancellationToken.None);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_current is null || _current.Start == _current.End)
        {
            Return(_current);
            _current = null;
            if (!await _ready.Reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }

            _ready.Reader.TryRead(out _current);
        }

        var count = Math.Min(buffer.Length, _current.End - _current.Start);
        _current.Buffer.AsMemory(_current.Start, count).CopyTo(buffer);
        _current.Start += count;
        return count;
    }

    /// <summary>Sends each decrypted block straight from its buffer (the answer's copy loop would add one more copy).</summary>
    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_current is { } block && block.Start < block.End)
            {
                await destination.WriteAsync(block.Buffer.AsMemory(block.Start, block.End - block.Start), cancellationToken);
                block.Start = block.End;
            }

            Return(_current);
            _current = null;
            if (!await _ready.Reader.WaitToReadAsync(cancellationToken))
            {
                return;
            }

            _ready.Reader.TryRead(out _current);
        }
    }

    private async Task ProduceAsync()
    {
        try
        {
            while (_remaining > 0)
            {
                var block = await DecryptNextAsync(_stop.Token);
                if (!_ready.Writer.TryWrite(block))
                {
                    try
                    {
                        await _ready.Writer.WriteAsync(block, _stop.Token);
                    }
                    catch
                    {
                        Return(block);
                        throw;
                    }
                }
            }

            _ready.Writer.Complete();
        }
        catch (Exception ex)
        {
            _ready.Writer.Complete(ex);
        }
    }

    private async Task<Decrypted> DecryptNextAsync(CancellationToken cancellationToken)
    {
        while (_block * _blockSize >= _partSizes[_part])
        {
            (_part, _block) = (_part + 1, 0);
        }

        var blockLength = (int)Math.Min(_blockSize, _partSizes[_part] - (_block * _blockSize));
        await _ciphertext.ReadExactlyAsync(_cipher.AsMemory(0, blockLength + EncryptedLayout.TagBytes), cancellationToken);
        if (_aesPart != _part)
        {
            _aes?.Dispose();
            (_aes, _aesPart) = (new AesGcm(_dataKeys[_part], EncryptedLayout.TagBytes), _part);
        }

        Span<byte> nonce = stackalloc byte[12];
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], _block);
        var last = (_block + 1) * _blockSize >= _partSizes[_part];
        var plain = ArrayPool<byte>.Shared.Rent(_bufferSize);
        try
        {
            _aes!.Decrypt(nonce, _cipher.AsSpan(0, blockLength), _cipher.AsSpan(blockLength, EncryptedLayout.TagBytes), plain.AsSpan(0, blockLength), last ? BlockCipher.LastBlock : BlockCipher.InnerBlock);
        }
        catch (AuthenticationTagMismatchException)
        {
            ArrayPool<byte>.Shared.Return(plain);
            throw new DataUnavailableException($"Block {_block} of part {_part + 1} of '{_name}' failed its authentication: the stored ciphertext was changed; nothing of it was served.");
        }

        _block++;
        var start = (int)_skip;
        _skip = 0;
        var end = (int)Math.Min(blockLength, start + _remaining);
        _remaining -= end - start;
        return new Decrypted(plain, start, end);
    }

    private static void Return(Decrypted? block)
    {
        if (block is not null)
        {
            ArrayPool<byte>.Shared.Return(block.Buffer);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _ciphertext.DisposeAsync();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            StopAsync().GetAwaiter().GetResult();
            _ciphertext.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Stops reading ahead and returns every buffer, once.</summary>
    private async Task StopAsync()
    {
        if (_cipher.Length == 0)
        {
            return;
        }

        await _stop.CancelAsync();
        await _producer.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        while (_ready.Reader.TryRead(out var block))
        {
            Return(block);
        }

        Return(_current);
        _current = null;
        _aes?.Dispose();
        foreach (var key in _dataKeys)
        {
            CryptographicOperations.ZeroMemory(key);
        }

        _stop.Dispose();
        ArrayPool<byte>.Shared.Return(_cipher);
        _cipher = [];
    }
}
