using System.Runtime.Intrinsics.X86;

namespace Storage.Gateway.Objects.Erasure;

/// <summary>
/// Multiplication of a byte vector by a GF(2^8) constant — the only hot loop of Reed–Solomon. Each
/// implementation handles any length (vector body, scalar tail) and must agree with <see cref="ScalarKernel"/>.
/// </summary>
public abstract class GaloisKernel
{
    public abstract string Name { get; }

    /// <summary>destination = factor · source.</summary>
    public abstract void Multiply(byte factor, ReadOnlySpan<byte> source, Span<byte> destination);

    /// <summary>destination ^= factor · source.</summary>
    public abstract void MultiplyAdd(byte factor, ReadOnlySpan<byte> source, Span<byte> destination);

    public override string ToString() => Name;

    /// <summary>The fastest kernel this CPU supports.</summary>
    public static GaloisKernel Best { get; } = Supported()[^1];

    /// <summary>Every kernel this CPU can run, slowest first; the scalar one always.</summary>
    public static IReadOnlyList<GaloisKernel> Supported()
    {
        var kernels = new List<GaloisKernel> { new ScalarKernel() };
        if (Avx2.IsSupported)
        {
            kernels.Add(new Avx2NibbleKernel());
        }

        if (Gfni.V256.IsSupported)
        {
            kernels.Add(new Gfni256Kernel());
        }

        if (Gfni.V512.IsSupported)
        {
            kernels.Add(new Gfni512Kernel());
        }

        return kernels;
    }

    /// <summary>Finishes the bytes after the last whole vector.</summary>
    protected static void ScalarTail(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, int start, bool accumulate)
    {
        if (accumulate)
        {
            ScalarMultiplyAdd(factor, source[start..], destination[start..]);
        }
        else
        {
            ScalarMultiply(factor, source[start..], destination[start..]);
        }
    }

    protected static void ScalarMultiply(byte factor, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var row = GaloisField.MultiplicationTable.AsSpan(factor << 8, 256);
        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = row[source[i]];
        }
    }

    protected static void ScalarMultiplyAdd(byte factor, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var row = GaloisField.MultiplicationTable.AsSpan(factor << 8, 256);
        for (var i = 0; i < source.Length; i++)
        {
            destination[i] ^= row[source[i]];
        }
    }
}

/// <summary>The portable reference: one 256-entry table lookup per byte.</summary>
public sealed class ScalarKernel : GaloisKernel
{
    public override string Name => "scalar";

    public override void Multiply(byte factor, ReadOnlySpan<byte> source, Span<byte> destination) =>
        ScalarMultiply(factor, source, destination);

    public override void MultiplyAdd(byte factor, ReadOnlySpan<byte> source, Span<byte> destination) =>
        ScalarMultiplyAdd(factor, source, destination);
}
