using System.Buffers;
using System.Buffers.Binary;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Integrity;

namespace Storage.Gateway.Objects;

/// <summary>
/// Where each byte of a segment lives. Full stripes hold <c>DataShards × BlockSize</c> bytes; the last stripe
/// holds the rest, cut into blocks of <c>ceil(rest / DataShards)</c> (zero-padded), so an object smaller than a
/// stripe becomes DataShards roughly equal parts. Shard j of a stripe holds the stripe's bytes
/// <c>[j·block, (j+1)·block)</c>. In a part, every block is followed by its CRC-32C.
/// </summary>
public readonly record struct StripeLayout(long Size, int DataShards, int BlockSize)
{
    public const int ChecksumBytes = sizeof(uint);

    public static StripeLayout For(Segment segment) => new(segment.Size, segment.DataShards, segment.BlockSize);

    public long StripeDataBytes => (long)DataShards * BlockSize;

    public long FullStripes => Size / StripeDataBytes;

    public long TailBytes => Size % StripeDataBytes;

    public long StripeCount => FullStripes + (TailBytes > 0 ? 1 : 0);

    /// <summary>Bytes of every part of the segment (blocks plus checksums).</summary>
    public long PartLength => (FullStripes * (BlockSize + ChecksumBytes)) + (TailBytes > 0 ? TailBlockLength + ChecksumBytes : 0);

    private int TailBlockLength => (int)((TailBytes + DataShards - 1) / DataShards);

    public int BlockLength(long stripe) => stripe < FullStripes ? BlockSize : TailBlockLength;

    public long StripeDataLength(long stripe) => stripe < FullStripes ? StripeDataBytes : TailBytes;

    public long StripeStart(long stripe) => stripe * StripeDataBytes;

    public long StripeOf(long offset) => offset / StripeDataBytes;

    /// <summary>Offset of the stripe's block inside every part.</summary>
    public long PartOffset(long stripe) => stripe * (BlockSize + ChecksumBytes);

    /// <summary>Appends a block as it is stored in a part: the bytes, then their CRC-32C (little-endian).</summary>
    public static void WriteBlock(IBufferWriter<byte> output, ReadOnlySpan<byte> block)
    {
        output.Write(block);
        BinaryPrimitives.WriteUInt32LittleEndian(output.GetSpan(ChecksumBytes), Crc32C.Compute(block));
        output.Advance(ChecksumBytes);
    }

    /// <summary>Writes a block as it is stored into <paramref name="destination"/>, which is exactly its size.</summary>
    public static void WriteBlock(Span<byte> destination, ReadOnlySpan<byte> block)
    {
        block.CopyTo(destination);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[block.Length..], Crc32C.Compute(block));
    }

    /// <summary>True when a stored block (<paramref name="blockLength"/> bytes and their CRC) is intact.</summary>
    public static bool IsIntact(ReadOnlySpan<byte> stored, int blockLength) =>
        Crc32C.Compute(stored[..blockLength]) == BinaryPrimitives.ReadUInt32LittleEndian(stored[blockLength..]);
}
