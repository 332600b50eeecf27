using System.Text;
using Storage.Gateway.Objects.Integrity;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Erasure;

public class Crc32CTests
{
    [Fact]
    public void Matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Hardware_path_agrees_with_the_table_on_every_tail_length()
    {
        for (var length = 0; length < 100; length++)
        {
            var data = TestData.Bytes(length + 4096, length);
            Assert.Equal(~Crc32C.AppendPortable(~0u, data), Crc32C.Compute(data));
        }
    }

    [Fact]
    public void Detects_a_single_flipped_bit()
    {
        var data = TestData.Bytes(256 * 1024, 9);
        var crc = Crc32C.Compute(data);
        data[12345] ^= 0x04;
        Assert.NotEqual(crc, Crc32C.Compute(data));
    }
}
