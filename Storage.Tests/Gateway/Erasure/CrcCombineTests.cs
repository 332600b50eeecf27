using Storage.Gateway.Objects.Integrity;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Erasure;

/// <summary>FULL_OBJECT checksums of multipart objects: the CRC of the pieces' concatenation, from their CRCs and sizes alone.</summary>
public sealed class CrcCombineTests
{
    [Theory]
    [InlineData("CRC32")]
    [InlineData("CRC32C")]
    [InlineData("CRC64NVME")]
    public void Combining_the_pieces_checksums_gives_the_checksum_of_the_whole(string algorithm)
    {
        var data = TestData.Bytes(300_000, 11);
        var random = new Random(algorithm.Length);
        for (var trial = 0; trial < 20; trial++)
        {
            var cuts = Enumerable.Range(0, random.Next(1, 6)).Select(_ => random.Next(0, data.Length + 1)).Append(0).Append(data.Length).Distinct().Order().ToArray();
            var pieces = cuts.Zip(cuts.Skip(1), (from, to) => (Checksum(algorithm, data.AsSpan(from, to - from)), (long)(to - from))).ToList();

            // An empty piece (a zero-byte last part) changes nothing.
            pieces.Add((Checksum(algorithm, []), 0));
            Assert.Equal(Checksum(algorithm, data), PayloadChecksum.CombineFullObject(algorithm, pieces));
        }
    }

    [Fact]
    public void Hashes_cannot_be_combined()
    {
        Assert.Null(PayloadChecksum.CombineFullObject("SHA256", [(Checksum("SHA256", [1, 2]), 2)]));
    }

    private static string Checksum(string algorithm, ReadOnlySpan<byte> data)
    {
        using var checksum = PayloadChecksum.Create(algorithm)!;
        checksum.Append(data);
        return checksum.GetBase64();
    }
}
