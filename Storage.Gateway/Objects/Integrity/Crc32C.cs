using System.Buffers.Binary;
using ArmCrc = System.Runtime.Intrinsics.Arm.Crc32;
using X86Crc = System.Runtime.Intrinsics.X86.Sse42;

namespace Storage.Gateway.Objects.Integrity;

/// <summary>
/// CRC-32C (Castagnoli), the per-block checksum of every stored part: carry-less folding where the CPU has
/// PCLMULQDQ (16 GB/s here, against 11 GB/s for the SSE4.2 <c>crc32</c> instruction, whose 3-cycle latency one
/// dependency chain cannot hide), the instruction for short inputs, ARM's instruction, a table elsewhere.
/// Kept over System.IO.Hashing 11, which ran at 0.84× of this in one benchmark run (docs/benchmarks.md).
/// </summary>
public static class Crc32C
{
    private const uint ReflectedPolynomial = 0x82F63B78;

    /// <summary>Below this, folding's set-up costs more than it saves.</summary>
    private const int FoldingThreshold = 1024;

    private static readonly uint[] Table = BuildTable();
    private static readonly ReflectedCrc Folding = new(32, ReflectedPolynomial);

    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(~0u, data);

    /// <summary>Continues a running (non-finalised) CRC over more data.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        if (data.Length >= FoldingThreshold && System.Runtime.Intrinsics.X86.Pclmulqdq.IsSupported)
        {
            return (uint)Folding.Append(crc, data);
        }

        if (X86Crc.X64.IsSupported)
        {
            var whole = data.Length & ~7;
            ulong wide = crc;
            for (var i = 0; i < whole; i += 8)
            {
                wide = X86Crc.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
            }

            crc = (uint)wide;
            foreach (var b in data[whole..])
            {
                crc = X86Crc.Crc32(crc, b);
            }

            return crc;
        }

        if (ArmCrc.Arm64.IsSupported)
        {
            var whole = data.Length & ~7;
            for (var i = 0; i < whole; i += 8)
            {
                crc = ArmCrc.Arm64.ComputeCrc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
            }

            foreach (var b in data[whole..])
            {
                crc = ArmCrc.ComputeCrc32C(crc, b);
            }

            return crc;
        }

        return AppendPortable(crc, data);
    }

    public static uint AppendPortable(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var crc = i;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ ReflectedPolynomial : crc >> 1;
            }

            table[i] = crc;
        }

        return table;
    }
}
