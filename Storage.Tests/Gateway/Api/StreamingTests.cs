using System.Net;
using System.Security.Cryptography;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

/// <summary>A 1 GiB object goes through a separate gateway process whose peak memory stays far below the object size.</summary>
public sealed class StreamingTests
{
    private const long OneGiB = 1L << 30;

    /// <summary>Generous for a .NET web host with server GC, and a quarter of the object: buffering it whole could not fit.</summary>
    private const long PeakMemoryLimit = 256L << 20;

    [Fact]
    public async Task A_one_gib_put_and_get_stream_with_bounded_memory()
    {
        await using var gateway = await GatewayProcess.StartAsync();
        var baseline = gateway.PeakResidentBytes();

        using var source = new PatternStream(OneGiB, seed: 0x5EED);
        using var content = new StreamContent(source, 1 << 20);
        content.Headers.ContentLength = OneGiB;
        using (var put = await gateway.Client.PutAsync("/object/huge", content))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var afterPut = gateway.PeakResidentBytes();
        using var response = await gateway.Client.GetAsync("/object/huge", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(OneGiB, response.Content.Headers.ContentLength);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var body = await response.Content.ReadAsStreamAsync())
        {
            var buffer = new byte[1 << 20];
            long received = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                received += read;
            }

            Assert.Equal(OneGiB, received);
        }

        Assert.Equal(source.Hash(), hash.GetHashAndReset());
        var peak = gateway.PeakResidentBytes();
        Console.WriteLine($"gateway peak RSS: start {baseline >> 20} MiB, after 1 GiB PUT {afterPut >> 20} MiB, after GET {peak >> 20} MiB");
        Assert.True(peak < PeakMemoryLimit, $"peak RSS {peak >> 20} MiB for a 1 GiB object (start {baseline >> 20} MiB, after PUT {afterPut >> 20} MiB)");
    }
}
