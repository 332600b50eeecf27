using System.Runtime.InteropServices;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Tests.Gateway.Erasure;

public sealed class AlignedBufferTests
{
    [Theory]
    // Sizes of the large object heap only (stripes and parity blocks), whose arrays the GC does not move; smaller
    // buffers (small objects' shards) may lose alignment to a compaction, which costs nothing there.
    [InlineData(100_000)]
    [InlineData(256 * 1024)]
    [InlineData((6 * 256 * 1024) + 1)]
    public void Rented_buffers_start_on_a_64_byte_boundary_and_have_the_asked_length(int length)
    {
        // Several at once: the pool hands out arrays at whatever addresses they were allocated.
        var buffers = Enumerable.Range(0, 8).Select(_ => new AlignedBuffer(length)).ToArray();
        try
        {
            foreach (var buffer in buffers)
            {
                Assert.Equal(length, buffer.Memory.Length);
                Assert.True(MemoryMarshal.TryGetArray<byte>(buffer.Memory, out var segment));
                var pin = GCHandle.Alloc(segment.Array, GCHandleType.Pinned);
                try
                {
                    Assert.Equal(0, (pin.AddrOfPinnedObject() + segment.Offset) % AlignedBuffer.Alignment);
                }
                finally
                {
                    pin.Free();
                }
            }
        }
        finally
        {
            foreach (var buffer in buffers)
            {
                buffer.Return();
            }
        }
    }
}
