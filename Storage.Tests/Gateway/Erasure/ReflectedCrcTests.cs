using System.Text;
using Storage.Gateway.Objects.Integrity;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Erasure;

public class ReflectedCrcTests
{
    public static TheoryData<string> Crcs => ["crc32", "crc64nvme"];

    [Fact]
    public void Matches_the_catalogued_check_values()
    {
        var check = Encoding.ASCII.GetBytes("123456789");
        Assert.Equal(0xCBF43926UL, ReflectedCrc.Crc32.Compute(check));
        Assert.Equal(0xAE8B14860A799888UL, ReflectedCrc.Crc64Nvme.Compute(check));
        Assert.Equal(0UL, ReflectedCrc.Crc32.Compute([]));
    }

    [Theory]
    [MemberData(nameof(Crcs))]
    public void Folding_agrees_with_the_table_for_every_length_and_split(string name)
    {
        var crc = name == "crc32" ? ReflectedCrc.Crc32 : ReflectedCrc.Crc64Nvme;
        var data = TestData.Bytes(70_000, 3);
        foreach (var length in Enumerable.Range(0, 300).Concat([1023, 4096, 65_537, 70_000]))
        {
            var expected = crc.Finish(crc.AppendBytewise(crc.Initial, data.AsSpan(0, length)));
            Assert.Equal(expected, crc.Compute(data.AsSpan(0, length)));

            var split = length / 3;
            var running = crc.Append(crc.Initial, data.AsSpan(0, split));
            Assert.Equal(expected, crc.Finish(crc.Append(running, data.AsSpan(split, length - split))));
        }
    }

    [Fact]
    public void Detects_a_single_flipped_bit()
    {
        var data = TestData.Bytes(256 * 1024, 9);
        var before = ReflectedCrc.Crc64Nvme.Compute(data);
        data[200_001] ^= 0x80;
        Assert.NotEqual(before, ReflectedCrc.Crc64Nvme.Compute(data));
    }
}
