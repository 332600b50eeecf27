using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;

namespace Storage.Benchmarks;

/// <summary>
/// What every byte of a PUT costs besides erasure coding, on one core: MD5 (the S3 ETag; inherently
/// sequential), CRC-32C (per-block checksums), and what S3 clients may add: SHA-256 (signed payloads and chunks),
/// CRC-32 and CRC-64/NVME (flexible checksums, carry-less folding), and AES-256-GCM in 64 KiB blocks (SSE-S3 and SSE-C),
/// against a plain memory copy of one 1.5 MiB stripe;
/// and System.IO.Hashing's CRC-32, CRC-32C and CRC-64/NVME beside the gateway's own kernels, to choose between them.
/// </summary>
[Config(typeof(Config))]
public class WritePathCostBenchmarks
{
    private const int StripeBytes = 6 * 256 * 1024;
    private readonly byte[] _stripe = new byte[StripeBytes];
    private readonly byte[] _copy = new byte[StripeBytes];
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
    private readonly byte[] _dataKey = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _tag = new byte[16];
    private readonly System.IO.Hashing.Crc32 _platformCrc32C = new(System.IO.Hashing.Crc32ParameterSet.Crc32C);
    private readonly System.IO.Hashing.Crc64 _platformCrc64Nvme = new(System.IO.Hashing.Crc64ParameterSet.Nvme);

    [GlobalSetup]
    public void Setup()
    {
        new Random(7).NextBytes(_stripe);

        // Compared only if they compute the same values.
        if (PlatformCrc32C() != Storage.Gateway.Objects.Integrity.Crc32C.Compute(_stripe) || PlatformCrc64Nvme() != Crc64Nvme() || PlatformCrc32() != Crc32())
        {
            throw new InvalidOperationException("System.IO.Hashing and the gateway's kernels disagree.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _md5.Dispose();

    [Benchmark(Baseline = true)]
    public void MemoryCopy() => _stripe.CopyTo(_copy, 0);

    [Benchmark]
    public void Md5() => _md5.AppendData(_stripe);

    /// <summary>
    /// What encryption at rest adds per byte: the stripe as the object layer encrypts it, block by block, with a cipher
    /// made per stripe as a part gets one per request (about 1 µs of ~300).
    /// </summary>
    [Benchmark]
    public void AesGcm64KiBBlocks()
    {
        using var aes = new AesGcm(_dataKey, 16);
        Span<byte> nonce = stackalloc byte[12];
        for (var offset = 0; offset < StripeBytes; offset += 64 * 1024)
        {
            aes.Encrypt(nonce, _stripe.AsSpan(offset, 64 * 1024), _copy.AsSpan(offset, 64 * 1024), _tag);
        }
    }

    [Benchmark]
    public uint Crc32C() => Storage.Gateway.Objects.Integrity.Crc32C.Compute(_stripe);

    [Benchmark]
    public ulong Crc32() => Storage.Gateway.Objects.Integrity.ReflectedCrc.Crc32.Compute(_stripe);

    [Benchmark]
    public ulong Crc64Nvme() => Storage.Gateway.Objects.Integrity.ReflectedCrc.Crc64Nvme.Compute(_stripe);

    [Benchmark]
    public ulong Crc32Table()
    {
        var crc = Storage.Gateway.Objects.Integrity.ReflectedCrc.Crc32;
        return crc.Finish(crc.AppendBytewise(crc.Initial, _stripe));
    }

    [Benchmark]
    public byte[] Sha256() => SHA256.HashData(_stripe);

    [Benchmark]
    public uint PlatformCrc32() => System.IO.Hashing.Crc32.HashToUInt32(_stripe);

    [Benchmark]
    public uint PlatformCrc32C()
    {
        _platformCrc32C.Reset();
        _platformCrc32C.Append(_stripe);
        return _platformCrc32C.GetCurrentHashAsUInt32();
    }

    [Benchmark]
    public ulong PlatformCrc64Nvme()
    {
        _platformCrc64Nvme.Reset();
        _platformCrc64Nvme.Append(_stripe);
        return _platformCrc64Nvme.GetCurrentHashAsUInt64();
    }

    private sealed class Config() : ThroughputConfig(new ThroughputColumn(
        "MB/s",
        "Stripe bytes processed per second, in 10^6 bytes",
        _ => StripeBytes,
        1e6));
}
