using System.Buffers.Binary;
using ArmCrc = System.Runtime.Intrinsics.Arm.Crc32;
using X86Crc = System.Runtime.Intrinsics.X86.Sse42;

namespace Storage.Gateway.Objects.Integrity;

/// <summary>
/// CRC-32C (Castagnoli), the per-block checksum of every stored part: hardware instructions on x86 (SSE4.2)
/// and ARM, a table elsewhere. System.IO.Hashing, which has it, is not on the mirror.
/// </summary>
public static class Crc32C
{
    private const uint ReflectedPolynomial = 0x82F63B78;
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(~0u, data);

    /// <summary>Continues a running (non-finalised) CRC over more data.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
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
