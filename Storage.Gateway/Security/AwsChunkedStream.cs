using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Storage.Gateway.Api;
using Storage.Gateway.Api.S3;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Security;

/// <summary>
/// Decodes an <c>aws-chunked</c> body as a stream: <c>&lt;hex size&gt;[;chunk-signature=&lt;sig&gt;]\r\n&lt;data&gt;\r\n</c>
/// repeated, a zero-size chunk, then optional trailer lines and an empty line. With a signing context every chunk
/// signature is checked against the chain that starts at the request's signature, and so is the trailer's. The
/// decoded bytes flow out as they arrive; a bad signature, bad framing or a wrong length fails the read before
/// the end of the body, so nothing built from it is ever committed.
/// </summary>
public sealed class AwsChunkedStream : ReadOnlyStream
{
    private const int BufferBytes = 64 * 1024;
    private const int MaxLineBytes = 4096;
    private const string ChunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD";
    private const string TrailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER";
    private static readonly string EmptySha256 = Convert.ToHexStringLower(SHA256.HashData([]));

    private readonly Stream _inner;
    private readonly SigningContext? _signing;
    private readonly bool _hasTrailer;
    private readonly long _declaredLength;
    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
    private readonly IncrementalHash? _chunkHash;
    private readonly Dictionary<string, string> _trailers = new(StringComparer.OrdinalIgnoreCase);
    private int _start;
    private int _end;
    private long _chunkRemaining;
    private string? _chunkSignature;
    private string _previousSignature;
    private long _decoded;
    private bool _finished;

    /// <param name="inner">The raw request body.</param>
    /// <param name="signing">The request's verified signature when chunks are signed; null for unsigned chunks.</param>
    /// <param name="hasTrailer">Whether trailer lines follow the last chunk.</param>
    /// <param name="declaredLength">x-amz-decoded-content-length: the decoded body must be exactly this long.</param>
    public AwsChunkedStream(Stream inner, SigningContext? signing, bool hasTrailer, long declaredLength)
    {
        _inner = inner;
        _signing = signing;
        _hasTrailer = hasTrailer;
        _declaredLength = declaredLength;
        _previousSignature = signing?.Signature ?? string.Empty;
        _chunkHash = signing is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    /// <summary>Trailer values by name (e.g. <c>x-amz-checksum-crc32</c>), known once the body is read to its end.</summary>
    public IReadOnlyDictionary<string, string> Trailers => _trailers;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_chunkRemaining == 0)
        {
            if (_finished)
            {
                return 0;
            }

            await ReadChunkHeaderAsync(cancellationToken);
        }

        var wanted = (int)Math.Min(buffer.Length, _chunkRemaining);
        int read;
        if (_start < _end)
        {
            read = Math.Min(wanted, _end - _start);
            _buffer.AsSpan(_start, read).CopyTo(buffer.Span);
            _start += read;
        }
        else
        {
            read = await _inner.ReadAsync(buffer[..wanted], cancellationToken);
            if (read == 0)
            {
                throw Truncated();
            }
        }

        _chunkHash?.AppendData(buffer.Span[..read]);
        _chunkRemaining -= read;
        _decoded += read;
        if (_chunkRemaining == 0)
        {
            await ExpectLineEndAsync(cancellationToken);
            VerifyChunk();
        }

        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _chunkHash?.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        base.Dispose(disposing);
    }

    private async Task ReadChunkHeaderAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken);
        var separator = line.IndexOf(';', StringComparison.Ordinal);
        var sizeText = separator < 0 ? line : line[..separator];
        if (sizeText.Length is 0 or > 15 || !long.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size))
        {
            throw Malformed($"'{Shorten(line)}' is not a chunk header.");
        }

        _chunkSignature = null;
        if (separator >= 0)
        {
            var extension = line[(separator + 1)..];
            if (!extension.StartsWith("chunk-signature=", StringComparison.Ordinal))
            {
                throw Malformed($"unknown chunk extension '{Shorten(extension)}'.");
            }

            _chunkSignature = extension["chunk-signature=".Length..];
        }

        if (_signing is not null && _chunkSignature is null)
        {
            throw S3Exception.SignatureDoesNotMatch("A chunk of a signed aws-chunked body has no chunk-signature.");
        }

        if (_decoded + size > _declaredLength)
        {
            throw Malformed($"the chunks carry more than the {_declaredLength} bytes of x-amz-decoded-content-length.");
        }

        _chunkRemaining = size;
        if (size > 0)
        {
            return;
        }

        VerifyChunk();
        if (_decoded != _declaredLength)
        {
            throw new BodyLengthMismatchException(_declaredLength, _decoded);
        }

        if (_hasTrailer)
        {
            await ReadTrailersAsync(cancellationToken);
        }
        else
        {
            await ExpectLineEndAsync(cancellationToken);
        }

        if (_start < _end || await _inner.ReadAsync(_buffer.AsMemory(0, 1), cancellationToken) > 0)
        {
            throw Malformed("data follows the final chunk.");
        }

        _finished = true;
    }

    private async Task ReadTrailersAsync(CancellationToken cancellationToken)
    {
        var canonical = new StringBuilder();
        string? trailerSignature = null;
        for (var line = await ReadLineAsync(cancellationToken); line.Length > 0; line = await ReadLineAsync(cancellationToken))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw Malformed($"'{Shorten(line)}' is not a trailer line.");
            }

            var (name, value) = (line[..colon].Trim().ToLowerInvariant(), line[(colon + 1)..].Trim());
            if (name == "x-amz-trailer-signature")
            {
                trailerSignature = value;
                continue;
            }

            if (_trailers.Count >= 8 || !_trailers.TryAdd(name, value))
            {
                throw Malformed("too many or repeated trailers.");
            }

            canonical.Append(name).Append(':').Append(value).Append('\n');
        }

        if (_signing is null)
        {
            return;
        }

        if (trailerSignature is null)
        {
            throw S3Exception.SignatureDoesNotMatch("The trailer of a signed aws-chunked body has no x-amz-trailer-signature.");
        }

        var expected = SigV4.Sign(_signing.SigningKey, SigV4.StringToSign(TrailerAlgorithm, _signing.AmzDate, _signing.Scope, $"{_previousSignature}\n{SigV4.Sha256Hex(canonical.ToString())}"));
        if (!SameSignature(expected, trailerSignature))
        {
            throw S3Exception.SignatureDoesNotMatch("The trailer signature of the aws-chunked body does not match.");
        }
    }

    private void VerifyChunk()
    {
        if (_signing is null || _chunkHash is null)
        {
            return;
        }

        var dataHash = Convert.ToHexStringLower(_chunkHash.GetHashAndReset());
        var expected = SigV4.Sign(_signing.SigningKey, SigV4.StringToSign(ChunkAlgorithm, _signing.AmzDate, _signing.Scope, $"{_previousSignature}\n{EmptySha256}\n{dataHash}"));
        if (!SameSignature(expected, _chunkSignature!))
        {
            throw S3Exception.SignatureDoesNotMatch("A chunk signature of the aws-chunked body does not match: the body was altered or signed with another key.");
        }

        _previousSignature = expected;
    }

    private static bool SameSignature(string expected, string actual) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(actual.ToLowerInvariant()));

    private async Task ExpectLineEndAsync(CancellationToken cancellationToken)
    {
        if (await ReadLineAsync(cancellationToken) is { Length: > 0 } extra)
        {
            throw Malformed($"expected CRLF after a chunk, found '{Shorten(extra)}'.");
        }
    }

    /// <summary>The next line without its CRLF (ASCII; at most 4 KiB).</summary>
    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var available = _buffer.AsSpan(_start, _end - _start);
            var newline = available.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = available[..newline];
                if (line.IsEmpty || line[^1] != '\r')
                {
                    throw Malformed("lines must end with CRLF.");
                }

                _start += newline + 1;
                return Encoding.ASCII.GetString(line[..^1]);
            }

            if (available.Length >= MaxLineBytes)
            {
                throw Malformed("a chunk header or trailer line is too long.");
            }

            if (_start > 0)
            {
                available.CopyTo(_buffer);
                (_start, _end) = (0, available.Length);
            }

            var read = await _inner.ReadAsync(_buffer.AsMemory(_end, BufferBytes - _end), cancellationToken);
            if (read == 0)
            {
                throw Truncated();
            }

            _end += read;
        }
    }

    private static InvalidRequestBodyException Truncated() =>
        new("The aws-chunked body ended before its last chunk. Nothing was stored.");

    private static InvalidRequestBodyException Malformed(string detail) =>
        new($"Malformed aws-chunked body: {detail} Nothing was stored.");

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
