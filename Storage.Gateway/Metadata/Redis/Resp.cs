using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// RESP2 encoding of commands and incremental decoding of replies from a <see cref="ReadOnlySequence{T}"/>
/// (as a PipeReader delivers them): decoding either consumes one complete reply or nothing.
/// </summary>
public static class Resp
{
    private const int MaxBulkLength = 512 * 1024 * 1024;
    private const int MaxArrayLength = 16 * 1024 * 1024;
    private const int MaxDepth = 32;

    /// <summary>Appends <c>*N\r\n$len\r\narg\r\n…</c>.</summary>
    public static void WriteCommand(IBufferWriter<byte> output, IReadOnlyList<RedisArg> arguments)
    {
        WriteHeader(output, (byte)'*', arguments.Count);
        foreach (var argument in arguments)
        {
            var bytes = argument.Bytes.Span;
            WriteHeader(output, (byte)'$', bytes.Length);
            output.Write(bytes);
            output.Write("\r\n"u8);
        }
    }

    /// <summary>Decodes one complete reply, advancing <paramref name="buffer"/> past it; false when more bytes are needed.</summary>
    /// <exception cref="RedisProtocolException">The bytes are not RESP.</exception>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, out RedisReply reply)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!TryRead(ref reader, 0, out reply))
        {
            return false;
        }

        buffer = buffer.Slice(reader.Position);
        return true;
    }

    private static bool TryRead(ref SequenceReader<byte> reader, int depth, out RedisReply reply)
    {
        reply = RedisReply.Nil;
        if (depth > MaxDepth)
        {
            throw new RedisProtocolException("Reply nesting is too deep.");
        }

        if (!reader.TryRead(out var type) || !reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            return false;
        }

        switch (type)
        {
            case (byte)'+':
                reply = new RedisReply(RedisReplyKind.SimpleString, Bytes: line.ToArray());
                return true;
            case (byte)'-':
                reply = new RedisReply(RedisReplyKind.Error, Bytes: line.ToArray());
                return true;
            case (byte)':':
                reply = new RedisReply(RedisReplyKind.Number, Number: ParseInteger(line));
                return true;
            case (byte)'$':
                var length = ParseInteger(line);
                if (length == -1)
                {
                    return true;
                }

                if (length is < 0 or > MaxBulkLength)
                {
                    throw new RedisProtocolException($"Invalid bulk length {length}.");
                }

                if (reader.Remaining < length + 2)
                {
                    return false;
                }

                var bytes = new byte[length];
                reader.TryCopyTo(bytes);
                reader.Advance(length);
                if (!reader.IsNext("\r\n"u8, advancePast: true))
                {
                    throw new RedisProtocolException("Bulk string not terminated by CRLF.");
                }

                reply = new RedisReply(RedisReplyKind.BulkString, Bytes: bytes);
                return true;
            case (byte)'*':
                var count = ParseInteger(line);
                if (count == -1)
                {
                    return true;
                }

                if (count is < 0 or > MaxArrayLength)
                {
                    throw new RedisProtocolException($"Invalid array length {count}.");
                }

                var items = new RedisReply[count];
                for (var i = 0; i < count; i++)
                {
                    if (!TryRead(ref reader, depth + 1, out items[i]))
                    {
                        return false;
                    }
                }

                reply = new RedisReply(RedisReplyKind.Array, Items: items);
                return true;
            default:
                throw new RedisProtocolException($"Unknown reply type '{(char)type}'.");
        }
    }

    private static long ParseInteger(ReadOnlySequence<byte> line)
    {
        Span<byte> digits = stackalloc byte[24];
        if (line.Length > digits.Length)
        {
            throw new RedisProtocolException("Integer too long.");
        }

        line.CopyTo(digits);
        return Utf8Parser.TryParse(digits[..(int)line.Length], out long value, out var consumed) && consumed == line.Length
            ? value
            : throw new RedisProtocolException($"'{Encoding.ASCII.GetString(line)}' is not an integer.");
    }

    private static void WriteHeader(IBufferWriter<byte> output, byte prefix, int value)
    {
        var span = output.GetSpan(16);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var written);
        span[1 + written] = (byte)'\r';
        span[2 + written] = (byte)'\n';
        output.Advance(3 + written);
    }
}

/// <summary>One command argument, as bytes: strings are UTF-8, numbers decimal.</summary>
public readonly record struct RedisArg(ReadOnlyMemory<byte> Bytes)
{
    public static implicit operator RedisArg(string value) => new(Encoding.UTF8.GetBytes(value));

    public static implicit operator RedisArg(long value) => new(Encoding.ASCII.GetBytes(value.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public static implicit operator RedisArg(byte[] value) => new(value);

    public static RedisArg FromString(string value) => value;

    public static RedisArg FromInt64(long value) => value;

    public static RedisArg FromBytes(byte[] value) => value;
}
