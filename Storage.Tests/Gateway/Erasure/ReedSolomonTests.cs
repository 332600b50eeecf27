using Storage.Gateway.Objects.Erasure;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Erasure;

public class ReedSolomonTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 6, 2, 1000 },
        { 6, 2, 65 },
        { 4, 4, 333 },
        { 10, 4, 129 },
        { 3, 1, 64 },
        { 1, 2, 77 },
        { 17, 3, 31 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_pattern_of_up_to_parity_erasures_reconstructs_byte_exactly(int data, int parity, int length)
    {
        foreach (var kernel in GaloisKernel.Supported())
        {
            var codec = new ReedSolomon(data, parity, kernel);
            var original = Encode(codec, length, seed: data * 31 + parity);
            foreach (var lost in Combinations.UpTo(data + parity, parity))
            {
                var shards = original.Select(s => (Memory<byte>)s.ToArray()).ToArray();
                var present = Enumerable.Repeat(true, codec.TotalShards).ToArray();
                foreach (var index in lost)
                {
                    present[index] = false;
                    shards[index].Span.Fill(0xEE);
                }

                codec.Reconstruct(shards, present);
                for (var i = 0; i < codec.TotalShards; i++)
                {
                    Assert.True(original[i].AsSpan().SequenceEqual(shards[i].Span), $"{kernel} {data}+{parity}: shard {i} differs after losing [{string.Join(",", lost)}]");
                }
            }
        }
    }

    [Fact]
    public void Data_only_reconstruction_leaves_parity_alone()
    {
        var codec = new ReedSolomon(6, 2);
        var original = Encode(codec, 500, seed: 7);
        var shards = original.Select(s => (Memory<byte>)s.ToArray()).ToArray();
        shards[0].Span.Clear();
        shards[7].Span.Clear();
        codec.Reconstruct(shards, [false, true, true, true, true, true, true, false], dataOnly: true);
        Assert.True(original[0].AsSpan().SequenceEqual(shards[0].Span));
        Assert.True(shards[7].Span.IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void More_than_parity_erasures_is_refused()
    {
        var codec = new ReedSolomon(6, 2);
        var shards = Encode(codec, 100, seed: 3).Select(s => (Memory<byte>)s).ToArray();
        var error = Assert.Throws<InsufficientShardsException>(() => codec.Reconstruct(shards, [false, false, false, true, true, true, true, true]));
        Assert.Equal(5, error.Available);
    }

    [Fact]
    public void Verify_detects_a_flipped_bit_in_any_shard()
    {
        var codec = new ReedSolomon(6, 2);
        var shards = Encode(codec, 256, seed: 11).Select(s => (Memory<byte>)s).ToArray();
        Assert.True(codec.Verify(shards));
        for (var i = 0; i < codec.TotalShards; i++)
        {
            shards[i].Span[100] ^= 0x10;
            Assert.False(codec.Verify(shards));
            shards[i].Span[100] ^= 0x10;
        }
    }

    [Fact]
    public void Shards_of_different_lengths_are_rejected()
    {
        var codec = new ReedSolomon(2, 1);
        Assert.Throws<ArgumentException>(() => codec.Encode([new byte[4], new byte[5], new byte[4]]));
        Assert.Throws<ArgumentException>(() => codec.Encode([new byte[4], new byte[4]]));
    }

    private static byte[][] Encode(ReedSolomon codec, int length, int seed)
    {
        var shards = new byte[codec.TotalShards][];
        for (var i = 0; i < codec.TotalShards; i++)
        {
            shards[i] = i < codec.DataShards ? TestData.Bytes(length, seed + i) : new byte[length];
        }

        codec.Encode(shards.Select(s => (Memory<byte>)s).ToArray());
        return shards;
    }
}
