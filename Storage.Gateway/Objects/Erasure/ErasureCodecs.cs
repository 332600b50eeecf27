using System.Collections.Concurrent;

namespace Storage.Gateway.Objects.Erasure;

/// <summary>One codec per (data, parity) shape; codecs are thread-safe and cache their decoding matrices.</summary>
public sealed class ErasureCodecs
{
    private readonly ConcurrentDictionary<(int Data, int Parity), ReedSolomon> _codecs = new();

    public ReedSolomon Get(int dataShards, int parityShards) =>
        _codecs.GetOrAdd((dataShards, parityShards), static shape => new ReedSolomon(shape.Data, shape.Parity));
}
