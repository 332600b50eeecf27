using Storage.Gateway.Objects;

namespace Storage.Tests.Gateway.Objects;

public class StripeLayoutTests
{
    [Fact]
    public void An_object_within_one_stripe_becomes_six_roughly_equal_parts()
    {
        var layout = new StripeLayout(1_000_000, 6, 256 * 1024);
        Assert.Equal(1, layout.StripeCount);
        Assert.Equal(166_667, layout.BlockLength(0));
        Assert.Equal(166_667 + 4, layout.PartLength);
    }

    [Fact]
    public void Full_stripes_use_the_block_size_and_the_tail_is_split_evenly()
    {
        const int Block = 1024;
        var layout = new StripeLayout((6 * Block * 3) + 601, 6, Block);
        Assert.Equal(4, layout.StripeCount);
        Assert.Equal(Block, layout.BlockLength(2));
        Assert.Equal(101, layout.BlockLength(3));
        Assert.Equal((3 * (Block + 4)) + 101 + 4, layout.PartLength);
        Assert.Equal(2 * (Block + 4), layout.PartOffset(2));
        Assert.Equal(3, layout.StripeOf(6 * Block * 3));
    }

    [Fact]
    public void An_exact_multiple_has_no_tail_stripe()
    {
        var layout = new StripeLayout(6 * 4096 * 2, 6, 4096);
        Assert.Equal(2, layout.StripeCount);
        Assert.Equal(2 * (4096 + 4), layout.PartLength);
    }
}
