namespace Storage.Gateway.Objects.Erasure;

/// <summary>
/// Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator 2, the field
/// used by klauspost/reedsolomon, Backblaze and ISA-L, so shards are interoperable with those codecs.
/// </summary>
public static class GaloisField
{
    public const int Polynomial = 0x11D;

    private static readonly byte[] ExpTable = BuildExpTable();
    private static readonly byte[] LogTable = BuildLogTable(ExpTable);

    /// <summary>256 rows of 256 products: row c holds c·x for every x (the scalar kernel's lookup table).</summary>
    public static readonly byte[] MultiplicationTable = BuildMultiplicationTable();

    public static byte Multiply(byte a, byte b) =>
        a == 0 || b == 0 ? (byte)0 : ExpTable[LogTable[a] + LogTable[b]];

    public static byte Inverse(byte a)
    {
        if (a == 0)
        {
            throw new DivideByZeroException("Zero has no inverse in GF(2^8).");
        }

        return ExpTable[255 - LogTable[a]];
    }

    /// <summary>a raised to the power n (with 0^0 = 1, as the Vandermonde construction needs).</summary>
    public static byte Power(byte a, int n)
    {
        if (n == 0)
        {
            return 1;
        }

        return a == 0 ? (byte)0 : ExpTable[LogTable[a] * n % 255];
    }

    /// <summary>Carry-less multiply with reduction, bit by bit: the reference the tables are checked against.</summary>
    public static byte MultiplySlow(byte a, byte b)
    {
        var product = 0;
        int x = a;
        for (var bit = 0; bit < 8; bit++)
        {
            if ((b & (1 << bit)) != 0)
            {
                product ^= x;
            }

            x <<= 1;
            if ((x & 0x100) != 0)
            {
                x ^= Polynomial;
            }
        }

        return (byte)product;
    }

    private static byte[] BuildExpTable()
    {
        // Twice the period, so Multiply can index log a + log b without a modulo.
        var exp = new byte[512];
        var x = 1;
        for (var i = 0; i < 512; i++)
        {
            exp[i] = (byte)x;
            x <<= 1;
            if ((x & 0x100) != 0)
            {
                x ^= Polynomial;
            }
        }

        return exp;
    }

    private static byte[] BuildLogTable(byte[] exp)
    {
        var log = new byte[256];
        for (var i = 0; i < 255; i++)
        {
            log[exp[i]] = (byte)i;
        }

        return log;
    }

    private static byte[] BuildMultiplicationTable()
    {
        var table = new byte[256 * 256];
        for (var a = 0; a < 256; a++)
        {
            for (var b = 0; b < 256; b++)
            {
                table[(a << 8) | b] = MultiplySlow((byte)a, (byte)b);
            }
        }

        return table;
    }
}
