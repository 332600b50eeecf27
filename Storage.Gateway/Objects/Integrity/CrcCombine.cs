namespace Storage.Gateway.Objects.Integrity;

/// <summary>
/// The CRC of a concatenation from the CRCs of its pieces and their lengths, without the bytes (as zlib's
/// <c>crc32_combine</c>): crc(A‖B) = crc(A)·x^(8·|B|) mod P ⊕ crc(B), for reflected CRCs whose initial register and
/// final XOR are the same (all ones for CRC-32, CRC-32C and CRC-64/NVME). This is how S3's FULL_OBJECT checksum of a
/// multipart object is derived from its parts' checksums.
/// </summary>
public sealed class CrcCombine
{
    private readonly int _width;
    private readonly ulong _polynomial;

    /// <summary>x^(2^k) mod P for k = 0..63, in the reflected representation.</summary>
    private readonly ulong[] _powers = new ulong[64];

    /// <param name="width">Bits of the CRC, 8 to 64.</param>
    /// <param name="reflectedPolynomial">The generator without its x^width term, bit-reversed.</param>
    public CrcCombine(int width, ulong reflectedPolynomial)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, 64);
        _width = width;
        _polynomial = reflectedPolynomial;
        _powers[0] = One >> 1;
        for (var k = 1; k < _powers.Length; k++)
        {
            _powers[k] = Multiply(_powers[k - 1], _powers[k - 1]);
        }
    }

    public static CrcCombine Crc32 { get; } = new(32, 0xEDB88320);

    public static CrcCombine Crc32C { get; } = new(32, 0x82F63B78);

    public static CrcCombine Crc64Nvme { get; } = new(64, 0x9A6C9329AC4BC9B5);

    /// <summary>The polynomial 1 (x^0 is the top bit when reflected).</summary>
    private ulong One => 1UL << (_width - 1);

    /// <summary>The CRC of A followed by B, given crc(A), crc(B) and B's length in bytes.</summary>
    public ulong Combine(ulong first, ulong second, long secondLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(secondLength);
        return Multiply(PowerOfX(secondLength), first) ^ second;
    }

    /// <summary>x^(8·bytes) mod P: the product of x^(2^k) over the set bits of 8·bytes.</summary>
    private ulong PowerOfX(long bytes)
    {
        var power = One;
        var k = 3;
        for (var n = (ulong)bytes; n != 0; n >>= 1, k++)
        {
            if ((n & 1) != 0)
            {
                power = Multiply(_powers[k], power);
            }
        }

        return power;
    }

    /// <summary>a·b mod P, reflected: bit (width-1-i) holds the coefficient of x^i.</summary>
    private ulong Multiply(ulong a, ulong b)
    {
        ulong product = 0;
        for (var bit = One; bit != 0; bit >>= 1)
        {
            if ((a & bit) != 0)
            {
                product ^= b;
            }

            b = (b & 1) != 0 ? (b >> 1) ^ _polynomial : b >> 1;
        }

        return product;
    }
}
