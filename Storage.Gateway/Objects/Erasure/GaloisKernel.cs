using System.Diagnostics;
using System.Runtime.CompilerServices;
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
    public void Multiply(byte factor, ReadOnlySpan<byte> source, Span<byte> destination) =>
        Run(factor, source, destination, accumulate: false);

    /// <summary>destination ^= factor · source.</summary>
    public void MultiplyAdd(byte factor, ReadOnlySpan<byte> source, Span<byte> destination) =>
        Run(factor, source, destination, accumulate: true);

    /// <summary>The kernel itself: multiply, and XOR into the destination when <paramref name="accumulate"/>.</summary>
    protected abstract void Run(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, bool accumulate);

    public override string ToString() => Name;

    /// <summary>
    /// The fastest kernel on this CPU, measured once at start-up: the widest is not always best, and the 512-bit
    /// kernel in particular loses a quarter of its speed on buffers that are not 64-byte aligned (docs/benchmarks.md).
    /// </summary>
    public static GaloisKernel Best { get; } = Fastest(Supported());

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

    /// <summary>
    /// Times what the gateway does all day — a 6+2 encode of 256 KiB blocks — with each kernel, narrowest first, and
    /// keeps a wider kernel only when it is clearly (10 %) faster, so measurement noise never picks a kernel that is
    /// not really better.
    /// </summary>
    private static GaloisKernel Fastest(IReadOnlyList<GaloisKernel> kernels)
    {
        // The scalar kernel never wins when a vector one exists; time only the candidates.
        var candidates = kernels.Count > 1 ? kernels.Skip(1).ToArray() : [.. kernels];
        if (candidates.Length == 1)
        {
            return candidates[0];
        }

        var random = new Random(1);
        var shards = new Memory<byte>[8];
        for (var i = 0; i < shards.Length; i++)
        {
            var shard = new byte[256 * 1024];
            random.NextBytes(shard);
            shards[i] = shard;
        }

        var best = candidates[0];
        var bestTime = TimeSpan.MaxValue;
        foreach (var kernel in candidates)
        {
            var codec = new ReedSolomon(6, 2, kernel);
            var fastestRound = TimeSpan.MaxValue;
            for (var round = 0; round < 8; round++)
            {
                var started = Stopwatch.GetTimestamp();
                for (var i = 0; i < 4; i++)
                {
                    codec.Encode(shards);
                }

                var elapsed = Stopwatch.GetElapsedTime(started);
                fastestRound = elapsed < fastestRound ? elapsed : fastestRound;
            }

            if (fastestRound < bestTime * 0.9)
            {
                (best, bestTime) = (kernel, fastestRound);
            }
        }

        return best;
    }

    /// <summary>The table-lookup loop from <paramref name="start"/> on: the scalar kernel, and the tail after the last whole vector.</summary>
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Run(byte factor, ReadOnlySpan<byte> source, Span<byte> destination, bool accumulate) =>
        ScalarTail(factor, source, destination, 0, accumulate);
}
