using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Storage.Gateway.Objects.Integrity;

/// <summary>
/// One of the whole-body checksums S3 clients send (<c>x-amz-checksum-crc32</c>, <c>-crc32c</c>, <c>-crc64nvme</c>,
/// <c>-sha1</c>, <c>-sha256</c>), computed incrementally; the value is base64 of the big-endian digest.
/// </summary>
public abstract class PayloadChecksum : IDisposable
{
    public static readonly IReadOnlyList<string> Algorithms = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

    /// <summary>S3's spelling: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.</summary>
    public abstract string Algorithm { get; }

    /// <summary>The header (or trailer) carrying the value, e.g. <c>x-amz-checksum-crc32</c>.</summary>
    public string HeaderName => HeaderFor(Algorithm);

    public static string HeaderFor(string algorithm) => "x-amz-checksum-" + algorithm.ToLowerInvariant();

    /// <summary>A fresh checksum for the algorithm (any case), or null when S3 has no such algorithm.</summary>
    public static PayloadChecksum? Create(string algorithm) => algorithm.ToUpperInvariant() switch
    {
        "CRC32" => new Crc("CRC32", ReflectedCrc.Crc32),
        "CRC64NVME" => new Crc("CRC64NVME", ReflectedCrc.Crc64Nvme),
        "CRC32C" => new Castagnoli(),
        "SHA1" => new Hash("SHA1", HashAlgorithmName.SHA1),
        "SHA256" => new Hash("SHA256", HashAlgorithmName.SHA256),
        _ => null,
    };

    /// <summary>
    /// S3's FULL_OBJECT checksum of pieces laid end to end, from each piece's checksum (base64) and size: defined for
    /// the CRCs only (null for SHA-1 and SHA-256, which cannot be combined).
    /// </summary>
    public static string? CombineFullObject(string algorithm, IEnumerable<(string Value, long Size)> pieces)
    {
        var (combine, bytes) = algorithm.ToUpperInvariant() switch
        {
            "CRC32" => (CrcCombine.Crc32, 4),
            "CRC32C" => (CrcCombine.Crc32C, 4),
            "CRC64NVME" => (CrcCombine.Crc64Nvme, 8),
            _ => (null, 0),
        };
        if (combine is null)
        {
            return null;
        }

        ulong? total = null;
        foreach (var (value, size) in pieces)
        {
            var digest = Convert.FromBase64String(value);
            if (digest.Length != bytes)
            {
                return null;
            }

            var crc = bytes == 8 ? BinaryPrimitives.ReadUInt64BigEndian(digest) : BinaryPrimitives.ReadUInt32BigEndian(digest);
            total = total is { } first ? combine.Combine(first, crc, size) : crc;
        }

        var result = new byte[bytes];
        if (bytes == 8)
        {
            BinaryPrimitives.WriteUInt64BigEndian(result, total ?? 0);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(result, (uint)(total ?? 0));
        }

        return Convert.ToBase64String(result);
    }

    public abstract void Append(ReadOnlySpan<byte> data);

    /// <summary>The digest of everything appended.</summary>
    public abstract byte[] GetValue();

    public string GetBase64() => Convert.ToBase64String(GetValue());

    public virtual void Dispose() => GC.SuppressFinalize(this);

    private sealed class Crc(string algorithm, ReflectedCrc crc) : PayloadChecksum
    {
        private ulong _register = crc.Initial;

        public override string Algorithm => algorithm;

        public override void Append(ReadOnlySpan<byte> data) => _register = crc.Append(_register, data);

        public override byte[] GetValue()
        {
            var value = new byte[crc.Width / 8];
            var result = crc.Finish(_register);
            if (value.Length == 8)
            {
                BinaryPrimitives.WriteUInt64BigEndian(value, result);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(value, (uint)result);
            }

            return value;
        }
    }

    private sealed class Castagnoli : PayloadChecksum
    {
        private uint _register = ~0u;

        public override string Algorithm => "CRC32C";

        public override void Append(ReadOnlySpan<byte> data) => _register = Crc32C.Append(_register, data);

        public override byte[] GetValue()
        {
            var value = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(value, ~_register);
            return value;
        }
    }

    private sealed class Hash(string algorithm, HashAlgorithmName name) : PayloadChecksum
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(name);

        public override string Algorithm => algorithm;

        public override void Append(ReadOnlySpan<byte> data) => _hash.AppendData(data);

        public override byte[] GetValue() => _hash.GetCurrentHash();

        public override void Dispose()
        {
            _hash.Dispose();
            base.Dispose();
        }
    }
}
