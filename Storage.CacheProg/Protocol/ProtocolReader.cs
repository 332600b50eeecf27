using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;

namespace Storage.CacheProg.Protocol;

/// <summary>The input is not the protocol: the stream cannot be trusted past this point.</summary>
public sealed class ProtocolException(string message) : Exception(message);

/// <summary>
/// Reads the go command's side of the protocol: one JSON request per line (blank lines between them), and after a
/// put with a body, one line holding a JSON string of standard base64 — decoded as it streams, never held whole.
/// </summary>
public sealed class ProtocolReader(Stream input)
{
    private const int BufferBytes = 64 * 1024;
    private const int MaxRequestLineBytes = 16 * 1024;

    private readonly byte[] _buffer = new byte[BufferBytes];
    private int _start;
    private int _end;

    /// <summary>The next request, or null when the input ends between requests.</summary>
    /// <exception cref="ProtocolException">A line that is not a request, or input ending mid-line.</exception>
    public async Task<CacheRequest?> ReadRequestAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = await FindAsync((byte)'\n', MaxRequestLineBytes, cancellationToken);
            if (newline < 0)
            {
                if (_start == _end)
                {
                    return null;
                }

                throw new ProtocolException("The input ended in the middle of a request.");
            }

            var line = _buffer.AsSpan(_start, newline - _start).TrimEnd((byte)'\r');
            _start = newline + 1;
            if (line.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }

            try
            {
                return JsonSerializer.Deserialize(line, ProtocolJsonContext.Default.CacheRequest)
                    ?? throw new ProtocolException("A request was null.");
            }
            catch (JsonException ex)
            {
                throw new ProtocolException($"Not a request: {ex.Message}");
            }
        }
    }

    /// <summary>
    /// Decodes the body line of a put into <paramref name="destination"/>, hashing it with SHA-256 on the way;
    /// returns the decoded length, which must equal <paramref name="size"/>.
    /// </summary>
    /// <exception cref="ProtocolException">No body line, invalid base64, or a length other than announced.</exception>
    public async Task ReadBodyAsync(Stream destination, long size, IncrementalHash sha256, CancellationToken cancellationToken)
    {
        // Skip the line break(s) before the opening quote.
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new ProtocolException("The input ended before a put's body.");
            }

            var b = _buffer[_start];
            if (b == (byte)'"')
            {
                _start++;
                break;
            }

            if (b is not ((byte)'\n' or (byte)'\r' or (byte)' '))
            {
                throw new ProtocolException("A put's body must be a JSON string of base64.");
            }

            _start++;
        }

        var decoded = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            long total = 0;
            while (true)
            {
                var available = _buffer.AsSpan(_start, _end - _start);
                var quote = available.IndexOf((byte)'"');
                var final = quote >= 0;

                // Padding can only be in the last four characters before the quote: until the quote is seen, keep them.
                var usable = final ? available[..quote] : available[..Math.Max(0, (available.Length - 4) & ~3)];
                var status = Base64.DecodeFromUtf8(usable, decoded, out var consumed, out var written, isFinalBlock: final);
                if (status == OperationStatus.InvalidData || (final && status != OperationStatus.Done))
                {
                    throw new ProtocolException("A put's body is not valid base64.");
                }

                total += written;
                if (total > size)
                {
                    throw new ProtocolException($"A put's body is longer than its BodySize {size}.");
                }

                sha256.AppendData(decoded, 0, written);
                // Synchronously: an asynchronous file write is a thread-pool hop, and on a machine the build keeps busy every
                // hop waits for a core (measured: a cold `go build std` 1-2 s slower).
                destination.Write(decoded, 0, written);
                _start += consumed;
                if (final)
                {
                    _start++;
                    if (total != size)
                    {
                        throw new ProtocolException($"A put's body has {total} bytes; its BodySize says {size}.");
                    }

                    return;
                }

                if (!await FillAsync(cancellationToken))
                {
                    throw new ProtocolException("The input ended inside a put's body.");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(decoded);
        }
    }

    /// <summary>Index of <paramref name="value"/> in the buffer, reading more as needed; -1 at end of input.</summary>
    private async Task<int> FindAsync(byte value, int limit, CancellationToken cancellationToken)
    {
        var searched = 0;
        while (true)
        {
            var found = _buffer.AsSpan(_start + searched, _end - _start - searched).IndexOf(value);
            if (found >= 0)
            {
                return _start + searched + found;
            }

            searched = _end - _start;
            if (searched >= limit)
            {
                throw new ProtocolException($"A request line is longer than {limit} bytes.");
            }

            if (!await FillAsync(cancellationToken))
            {
                return -1;
            }
        }
    }

    /// <summary>Moves unread bytes to the front and reads more; false at end of input.</summary>
    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            (_start, _end) = (0, _end - _start);
        }

        if (_end == _buffer.Length)
        {
            return true;
        }

        var read = await input.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += read;
        return read > 0;
    }
}
