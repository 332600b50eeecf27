using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Storage.Gateway.Objects.Integrity;

/// <summary>
/// A reflected CRC of up to 64 bits (CRC-32, CRC-64/NVME: the checksums S3 clients send), computed by
/// carry-less-multiply folding four 128-bit lanes at a time where the CPU has PCLMULQDQ, bytewise by table
/// elsewhere and for tails. Kept over System.IO.Hashing 11, which ran at 0.84× of this in one benchmark run
/// (docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Folding keeps a 128-bit value congruent (mod P) to the message read so far; the table then reduces those
/// 16 bytes. Loaded little-endian, bit k of a block is the coefficient of x^(127-k), and a carry-less product
/// of two such 64-bit halves is their polynomial product times x, so a half at distance D bits is moved
/// forward by multiplying with x^(D-1) mod P. The constants are derived here from the polynomial, not copied.
/// </remarks>
public sealed class ReflectedCrc
{
    private const int LaneBytes = 16;
    private const int FoldBytes = 4 * LaneBytes;

    private readonly ulong[] _table = new ulong[256];
    private readonly ulong _mask;
    private readonly Vector128<ulong> _fold512;
    private readonly Vector128<ulong> _fold128;

    /// <param name="width">Bits of the CRC, 8 to 64.</param>
    /// <param name="reflectedPolynomial">The generator without its x^width term, bit-reversed (as CRC catalogues list it for reflected CRCs).</param>
    public ReflectedCrc(int width, ulong reflectedPolynomial)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, 64);
        Width = width;
        _mask = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
        for (var i = 0; i < 256; i++)
        {
            var crc = (ulong)i;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1;
            }

            _table[i] = crc;
        }

        var normal = Reverse(reflectedPolynomial, width);
        _fold512 = Vector128.Create(XPowerModP(512 + 63, normal), XPowerModP(512 - 1, normal));
        _fold128 = Vector128.Create(XPowerModP(128 + 63, normal), XPowerModP(128 - 1, normal));
    }

    /// <summary>CRC-32 (ISO-HDLC, zlib), S3's <c>CRC32</c>.</summary>
    public static ReflectedCrc Crc32 { get; } = new(32, 0xEDB88320);

    /// <summary>CRC-64/NVME, S3's <c>CRC64NVME</c>.</summary>
    public static ReflectedCrc Crc64Nvme { get; } = new(64, 0x9A6C9329AC4BC9B5);

    public int Width { get; }

    /// <summary>The register before any data (all ones, as for both catalogued CRCs).</summary>
    public ulong Initial => _mask;

    public ulong Compute(ReadOnlySpan<byte> data) => Finish(Append(Initial, data));

    /// <summary>The CRC value of a running register (final XOR with all ones).</summary>
    public ulong Finish(ulong register) => register ^ _mask;

    /// <summary>Continues a running register over more data.</summary>
    public ulong Append(ulong register, ReadOnlySpan<byte> data)
    {
        if (Pclmulqdq.IsSupported && data.Length >= 2 * FoldBytes)
        {
            var folded = data.Length & ~(LaneBytes - 1);
            register = AppendFolded(register, data[..folded]);
            data = data[folded..];
        }

        return AppendBytewise(register, data);
    }

    public ulong AppendBytewise(ulong register, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            register = _table[(byte)(register ^ b)] ^ (register >> 8);
        }

        return register;
    }

    /// <summary>Folds a whole number of 16-byte lanes (at least 64 bytes) and reduces the result by table.</summary>
    private ulong AppendFolded(ulong register, ReadOnlySpan<byte> data)
    {
        var lanes = MemoryMarshal.Cast<byte, Vector128<ulong>>(data);

        // Continuing a register over data equals starting from zero with the register XORed into the first bytes.
        var x0 = lanes[0] ^ Vector128.CreateScalar(register);
        var x1 = lanes[1];
        var x2 = lanes[2];
        var x3 = lanes[3];
        var i = 4;
        for (; i + 4 <= lanes.Length; i += 4)
        {
            x0 = Fold(x0, _fold512) ^ lanes[i];
            x1 = Fold(x1, _fold512) ^ lanes[i + 1];
            x2 = Fold(x2, _fold512) ^ lanes[i + 2];
            x3 = Fold(x3, _fold512) ^ lanes[i + 3];
        }

        var x = Fold(Fold(Fold(x0, _fold128) ^ x1, _fold128) ^ x2, _fold128) ^ x3;
        for (; i < lanes.Length; i++)
        {
            x = Fold(x, _fold128) ^ lanes[i];
        }

        Span<byte> rest = stackalloc byte[LaneBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(rest, x.GetElement(0));
        BinaryPrimitives.WriteUInt64LittleEndian(rest[8..], x.GetElement(1));
        return AppendBytewise(0, rest);
    }

    private static Vector128<ulong> Fold(Vector128<ulong> lane, Vector128<ulong> constants) =>
        Pclmulqdq.CarrylessMultiply(lane, constants, 0x00) ^ Pclmulqdq.CarrylessMultiply(lane, constants, 0x11);

    /// <summary>x^power mod P as a 64-bit reflected value (bit i is the coefficient of x^(63-i)).</summary>
    private ulong XPowerModP(int power, ulong normalPolynomial)
    {
        var top = 1UL << (Width - 1);
        ulong remainder = 1;
        for (var i = 0; i < power; i++)
        {
            var carry = (remainder & top) != 0;
            remainder = (remainder << 1) & _mask;
            if (carry)
            {
                remainder ^= normalPolynomial;
            }
        }

        return Reverse(remainder, 64);
    }

    private static ulong Reverse(ulong value, int bits)
    {
        ulong reversed = 0;
        for (var i = 0; i < bits; i++)
        {
            reversed = (reversed << 1) | ((value >> i) & 1);
        }

        return reversed;
    }
}
