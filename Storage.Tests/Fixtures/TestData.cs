using System.Security.Cryptography;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Tests.Fixtures;

/// <summary>Deterministic pseudo-random bytes, generated on the fly so tests can stream gigabytes without holding them.</summary>
public static class TestData
{
    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Sha256(ReadOnlySpan<byte> data) => SHA256.HashData(data);

    /// <summary>A committed object's record with one 6+2 segment on node1..node8 (metadata only: no parts exist).</summary>
    public static ObjectRecord Record(string bucket, string key, long size = 100, DateTimeOffset? lastModified = null) =>
        new(
            bucket,
            key,
            size,
            Guid.NewGuid().ToString("N"),
            lastModified ?? DateTimeOffset.UtcNow,
            ObjectAttributes.None,
            [new Segment(Guid.NewGuid().ToString("N"), size, 6, 2, 4096, [.. Enumerable.Range(1, 8).Select(i => $"node{i}")])]);
}

/// <summary>A read-only stream of <c>length</c> xorshift bytes that can also report the SHA-256 of what it produced.</summary>
public sealed class PatternStream(long length, ulong seed) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private ulong _state = seed | 1;
    private long _position;
    private byte[]? _finalHash;

    public override long Length => length;

    /// <summary>SHA-256 of the bytes produced so far (still available after HttpClient disposes the stream).</summary>
    public byte[] Hash() => _finalHash ?? _hash.GetCurrentHash();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var span = buffer.Span;
        var count = (int)Math.Min(span.Length, length - _position);
        for (var i = 0; i < count; i++)
        {
            if ((_position + i) % 8 == 0)
            {
                _state ^= _state << 13;
                _state ^= _state >> 7;
                _state ^= _state << 17;
            }

            span[i] = (byte)(_state >> (int)(8 * ((_position + i) % 8)));
        }

        _hash.AppendData(span[..count]);
        _position += count;
        return ValueTask.FromResult(count);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _finalHash is null)
        {
            _finalHash = _hash.GetHashAndReset();
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// A request body of pattern bytes that stops after <paramref name="pauseAfter"/> bytes until the test calls
/// <see cref="Resume"/>: the moment to kill a node while a PUT is in the middle of writing its parts.
/// </summary>
public sealed class GatedContent(long length, ulong seed, long pauseAfter) : HttpContent
{
    private readonly TaskCompletionSource _paused = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PatternStream _pattern = new(length, seed);

    /// <summary>Completes once the first <c>pauseAfter</c> bytes are sent.</summary>
    public Task Paused => _paused.Task;

    public byte[] Sha256() => _pattern.Hash();

    public void Resume() => _resume.TrySetResult();

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
    {
        var buffer = new byte[64 * 1024];
        long sent = 0;
        while (sent < length)
        {
            if (sent >= pauseAfter && !_resume.Task.IsCompleted)
            {
                await stream.FlushAsync();
                _paused.TrySetResult();
                await _resume.Task;
            }

            var chunk = (int)Math.Min(buffer.Length, sent < pauseAfter ? Math.Min(length, pauseAfter) - sent : length - sent);
            var read = await _pattern.ReadAsync(buffer.AsMemory(0, chunk));
            await stream.WriteAsync(buffer.AsMemory(0, read));
            sent += read;
        }

        _paused.TrySetResult();
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _pattern.Length;
        return true;
    }
}
