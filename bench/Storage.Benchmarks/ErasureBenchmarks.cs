using BenchmarkDotNet.Attributes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Benchmarks;

/// <summary>
/// Reed–Solomon 6+2 on one core: encoding, and rebuilding two lost data shards, for every kernel this CPU
/// supports. The scalar table kernel is the baseline; the GB/s column counts data bytes (6 shards) per second.
/// </summary>
[Config(typeof(Config))]
public class ErasureBenchmarks
{
    private ReedSolomon _codec = null!;
    private Memory<byte>[] _shards = null!;
    private bool[] _twoDataShardsLost = null!;

    [ParamsSource(nameof(Kernels))]
    public string Kernel { get; set; } = "scalar";

    /// <summary>The gateway's block size.</summary>
    [Params(256 * 1024)]
    public int ShardBytes { get; set; }

    /// <summary>Bytes past a 64-byte boundary where every shard starts: wide loads that straddle cache lines cost double.</summary>
    [Params(0, 32)]
    public int Misalignment { get; set; }

    public static IEnumerable<string> Kernels => GaloisKernel.Supported().Select(k => k.Name);

    [GlobalSetup]
    public void Setup()
    {
        _codec = new ReedSolomon(6, 2, GaloisKernel.Supported().Single(k => k.Name == Kernel));
        var random = new Random(42);
        _shards = new Memory<byte>[_codec.TotalShards];
        for (var i = 0; i < _shards.Length; i++)
        {
            // Pinned, so the address (and with it the alignment under test) cannot move.
            var buffer = GC.AllocateUninitializedArray<byte>(ShardBytes + 128, pinned: true);
            var address = System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0).ToInt64();
            _shards[i] = buffer.AsMemory((int)((64 - (address % 64)) % 64) + Misalignment, ShardBytes);
            random.NextBytes(_shards[i].Span);
        }

        _codec.Encode(_shards);
        _twoDataShardsLost = [false, true, true, false, true, true, true, true];
    }

    [Benchmark(Baseline = true)]
    public void Encode() => _codec.Encode(_shards);

    [Benchmark]
    public void ReconstructTwoDataShards() => _codec.Reconstruct(_shards, _twoDataShardsLost, dataOnly: true);

    private sealed class Config() : ThroughputConfig(new ThroughputColumn(
        "Data GB/s",
        "Data bytes (6 shards) processed per second, in 10^9 bytes",
        benchmarkCase => 6.0 * (int)benchmarkCase.Parameters[nameof(ShardBytes)],
        1e9));
}
