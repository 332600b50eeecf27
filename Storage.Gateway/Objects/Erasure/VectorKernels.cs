using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Storage.Gateway.Objects.Erasure;

/// <summary>
/// AVX2 split-nibble multiplication (the ISA-L / klauspost technique): c·x = L[x &amp; 15] ^ H[x &gt;&gt; 4], with the
/// two 16-entry tables looked up 32 bytes at a time by VPSHUFB.
/// </summary>
public sealed class Avx2NibbleKernel : GaloisKernel
{
    /// <summary>For each factor c: 16 bytes c·x then 16 bytes c·(x&lt;&lt;4), x = 0..15.</summary>
    private static readonly byte[] NibbleTables = BuildNibbleTables();

    public override string Name => "avx2";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Run(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, bool accumulate)
    {
        ref var tables = ref NibbleTables[factor * 32];
        var low = Vector256.Create(Vector128.LoadUnsafe(ref tables));
        var high = Vector256.Create(Vector128.LoadUnsafe(ref tables, 16));
        var nibble = Vector256.Create((byte)0x0F);
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var vectorEnd = source.Length - (source.Length % Vector256<byte>.Count);
        for (nuint i = 0; i < (nuint)vectorEnd; i += (nuint)Vector256<byte>.Count)
        {
            var x = Vector256.LoadUnsafe(ref src, i);
            var product = Avx2.Shuffle(low, x & nibble) ^ Avx2.Shuffle(high, Vector256.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & nibble);
            if (accumulate)
            {
                product ^= Vector256.LoadUnsafe(ref dst, i);
            }

            product.StoreUnsafe(ref dst, i);
        }

        ScalarTail(factor, source, destination, vectorEnd, accumulate);
    }

    private static byte[] BuildNibbleTables()
    {
        var tables = new byte[256 * 32];
        for (var c = 0; c < 256; c++)
        {
            for (var x = 0; x < 16; x++)
            {
                tables[(c * 32) + x] = GaloisField.MultiplySlow((byte)c, (byte)x);
                tables[(c * 32) + 16 + x] = GaloisField.MultiplySlow((byte)c, (byte)(x << 4));
            }
        }

        return tables;
    }
}

/// <summary>
/// GFNI: multiplication by a constant is linear over GF(2), so one GF2P8AFFINEQB with the constant's 8×8 bit
/// matrix multiplies 32 (or 64) bytes at once in any field — including 0x11D, which GF2P8MULB (fixed to AES's
/// 0x11B) cannot do.
/// </summary>
public static class AffineMatrices
{
    /// <summary>The bit matrix of x ↦ c·x for each c, laid out as GF2P8AFFINEQB expects (row of output bit i in byte 7-i).</summary>
    public static readonly ulong[] ByFactor = Build();

    private static ulong[] Build()
    {
        var matrices = new ulong[256];
        for (var c = 0; c < 256; c++)
        {
            ulong matrix = 0;
            for (var outputBit = 0; outputBit < 8; outputBit++)
            {
                ulong row = 0;
                for (var inputBit = 0; inputBit < 8; inputBit++)
                {
                    if ((GaloisField.MultiplySlow((byte)c, (byte)(1 << inputBit)) & (1 << outputBit)) != 0)
                    {
                        row |= 1UL << inputBit;
                    }
                }

                matrix |= row << (8 * (7 - outputBit));
            }

            matrices[c] = matrix;
        }

        return matrices;
    }
}

public sealed class Gfni256Kernel : GaloisKernel
{
    public override string Name => "gfni256";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Run(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, bool accumulate)
    {
        var matrix = Vector256.Create(AffineMatrices.ByFactor[factor]).AsByte();
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var vectorEnd = source.Length - (source.Length % Vector256<byte>.Count);
        for (nuint i = 0; i < (nuint)vectorEnd; i += (nuint)Vector256<byte>.Count)
        {
            var product = Gfni.V256.GaloisFieldAffineTransform(Vector256.LoadUnsafe(ref src, i), matrix, 0);
            if (accumulate)
            {
                product ^= Vector256.LoadUnsafe(ref dst, i);
            }

            product.StoreUnsafe(ref dst, i);
        }

        ScalarTail(factor, source, destination, vectorEnd, accumulate);
    }
}

public sealed class Gfni512Kernel : GaloisKernel
{
    public override string Name => "gfni512";

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Run(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, bool accumulate)
    {
        var matrix = Vector512.Create(AffineMatrices.ByFactor[factor]).AsByte();
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var vectorEnd = source.Length - (source.Length % Vector512<byte>.Count);
        for (nuint i = 0; i < (nuint)vectorEnd; i += (nuint)Vector512<byte>.Count)
        {
            var product = Gfni.V512.GaloisFieldAffineTransform(Vector512.LoadUnsafe(ref src, i), matrix, 0);
            if (accumulate)
            {
                product ^= Vector512.LoadUnsafe(ref dst, i);
            }

            product.StoreUnsafe(ref dst, i);
        }

        ScalarTail(factor, source, destination, vectorEnd, accumulate);
    }
}
