using Storage.Gateway.Objects;

namespace Storage.Tests.Gateway.Objects;

public class ByteRangeTests
{
    [Theory]
    [InlineData("bytes=0-99", 1000, 0, 100)]
    [InlineData("bytes=900-", 1000, 900, 100)]
    [InlineData("bytes=-10", 1000, 990, 10)]
    [InlineData("bytes=-5000", 1000, 0, 1000)]
    [InlineData("bytes=990-5000", 1000, 990, 10)]
    public void Resolves_satisfiable_ranges(string header, long size, long offset, long length)
    {
        Assert.True(ByteRange.TryParse(header, out var range));
        Assert.Equal((offset, length), range.Resolve(size));
    }

    [Theory]
    [InlineData("bytes=1000-", 1000)]
    [InlineData("bytes=-0", 1000)]
    [InlineData("bytes=0-", 0)]
    public void Unsatisfiable_ranges_resolve_to_null(string header, long size)
    {
        Assert.True(ByteRange.TryParse(header, out var range));
        Assert.Null(range.Resolve(size));
    }

    [Theory]
    [InlineData("items=0-1")]
    [InlineData("bytes=0-1,5-6")]
    [InlineData("bytes=5-1")]
    [InlineData("bytes=a-b")]
    [InlineData("bytes=-")]
    [InlineData("bytes=+1-2")]
    public void Malformed_or_multiple_ranges_are_rejected(string header) =>
        Assert.False(ByteRange.TryParse(header, out _));
}
