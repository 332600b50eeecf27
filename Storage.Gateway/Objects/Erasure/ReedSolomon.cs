using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Storage.Gateway.Objects.Erasure;

/// <summary>
/// A systematic Reed–Solomon codec over GF(2^8): <see cref="Encode"/> computes parity shards from data
/// shards, <see cref="Reconstruct"/> rebuilds any missing shards from any <see cref="DataShards"/> survivors,
/// <see cref="Verify"/> checks parity. All shards of one call have the same length.
/// With one data shard, parity shards are plain copies: replication is RS(1, m).
/// </summary>
public sealed class ReedSolomon
{
    /// <summary>Work proceeds in slices small enough that every shard's slice stays in the L1/L2 cache.</summary>
    private const int SliceBytes = 8 * 1024;

    private readonly GaloisMatrix _encoding;
    private readonly ConcurrentDictionary<ulong, GaloisMatrix> _decodingBySurvivors = new();

    public ReedSolomon(int dataShards, int parityShards, GaloisKernel? kernel = null)
    {
        if (dataShards < 1 || parityShards < 0 || dataShards + parityShards > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(dataShards), "Need at least one data shard and at most 256 shards in all.");
        }

        DataShards = dataShards;
        ParityShards = parityShards;
        Kernel = kernel ?? GaloisKernel.Best;
        _encoding = GaloisMatrix.BuildSystematic(dataShards, dataShards + parityShards);
    }

    public int DataShards { get; }

    public int ParityShards { get; }

    public int TotalShards => DataShards + ParityShards;

    public GaloisKernel Kernel { get; }

    /// <summary>Fills shards[DataShards..] with parity computed from shards[..DataShards].</summary>
    public void Encode(Memory<byte>[] shards)
    {
        var length = CheckShards(shards);
        Span<int> inputs = stackalloc int[DataShards];
        Span<int> outputs = stackalloc int[ParityShards];
        for (var i = 0; i < DataShards; i++)
        {
            inputs[i] = i;
        }

        for (var p = 0; p < ParityShards; p++)
        {
            outputs[p] = DataShards + p;
        }

        Apply(_encoding, DataShards, inputs, outputs, shards, length);
    }

    /// <summary>True when every parity shard matches the data shards.</summary>
    public bool Verify(Memory<byte>[] shards)
    {
        var length = CheckShards(shards);
        var expected = new byte[ParityShards * length];
        var check = new Memory<byte>[TotalShards];
        for (var i = 0; i < DataShards; i++)
        {
            check[i] = shards[i];
        }

        for (var p = 0; p < ParityShards; p++)
        {
            check[DataShards + p] = expected.AsMemory(p * length, length);
        }

        Encode(check);
        for (var p = 0; p < ParityShards; p++)
        {
            if (!check[DataShards + p].Span.SequenceEqual(shards[DataShards + p].Span))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Rebuilds every shard whose <paramref name="present"/> flag is false (or only the data shards when
    /// <paramref name="dataOnly"/>), writing into the buffers already in <paramref name="shards"/>.
    /// </summary>
    public void Reconstruct(Memory<byte>[] shards, ReadOnlySpan<bool> present, bool dataOnly = false)
    {
        var length = CheckShards(shards);
        if (present.Length != TotalShards)
        {
            throw new ArgumentException($"Expected {TotalShards} presence flags.", nameof(present));
        }

        Span<int> survivors = stackalloc int[DataShards];
        var found = 0;
        ulong survivorMask = 0;
        for (var i = 0; i < TotalShards && found < DataShards; i++)
        {
            if (present[i])
            {
                survivors[found++] = i;
                survivorMask |= i < 64 ? 1UL << i : 0;
            }
        }

        if (found < DataShards)
        {
            throw new InsufficientShardsException(DataShards, found);
        }

        Span<int> missingData = stackalloc int[DataShards];
        var missingDataCount = 0;
        for (var i = 0; i < DataShards; i++)
        {
            if (!present[i])
            {
                missingData[missingDataCount++] = i;
            }
        }

        if (missingDataCount > 0)
        {
            var decoding = TotalShards <= 64
                ? _decodingBySurvivors.GetOrAdd(survivorMask, static (_, state) => state.Codec.BuildDecoding(state.Survivors), (Codec: this, Survivors: survivors.ToArray()))
                : BuildDecoding(survivors.ToArray());
            Apply(decoding, DataShards, survivors, missingData[..missingDataCount], shards, length);
        }

        if (dataOnly)
        {
            return;
        }

        Span<int> missingParity = stackalloc int[ParityShards];
        var missingParityCount = 0;
        for (var p = DataShards; p < TotalShards; p++)
        {
            if (!present[p])
            {
                missingParity[missingParityCount++] = p;
            }
        }

        if (missingParityCount > 0)
        {
            Span<int> data = stackalloc int[DataShards];
            for (var i = 0; i < DataShards; i++)
            {
                data[i] = i;
            }

            Apply(_encoding, DataShards, data, missingParity[..missingParityCount], shards, length);
        }
    }

    private GaloisMatrix BuildDecoding(int[] survivors) => _encoding.SelectRows(survivors).Invert();

    /// <summary>
    /// shards[output] = Σ matrix[output, j] · shards[inputs[j]], slice by slice. Matrix rows are indexed by
    /// shard: parity rows of the encoding matrix, or data rows of a decoding matrix.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Apply(GaloisMatrix matrix, int columns, ReadOnlySpan<int> inputs, ReadOnlySpan<int> outputs, Memory<byte>[] shards, int length)
    {
        for (var offset = 0; offset < length; offset += SliceBytes)
        {
            var count = Math.Min(SliceBytes, length - offset);
            foreach (var output in outputs)
            {
                var coefficients = matrix.Row(output);
                var destination = shards[output].Span.Slice(offset, count);
                for (var j = 0; j < columns; j++)
                {
                    var source = shards[inputs[j]].Span.Slice(offset, count);
                    if (j == 0)
                    {
                        Kernel.Multiply(coefficients[j], source, destination);
                    }
                    else
                    {
                        Kernel.MultiplyAdd(coefficients[j], source, destination);
                    }
                }
            }
        }
    }

    private int CheckShards(Memory<byte>[] shards)
    {
        if (shards.Length != TotalShards)
        {
            throw new ArgumentException($"Expected {TotalShards} shards, got {shards.Length}.", nameof(shards));
        }

        var length = shards[0].Length;
        foreach (var shard in shards)
        {
            if (shard.Length != length)
            {
                throw new ArgumentException("All shards must have the same length.", nameof(shards));
            }
        }

        return length;
    }
}

public sealed class InsufficientShardsException(int needed, int available)
    : InvalidOperationException($"Reconstruction needs {needed} intact shards but only {available} are available.")
{
    public int Available { get; } = available;
}
