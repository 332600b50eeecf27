using System.Collections.Concurrent;
using System.Net;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

/// <summary>
/// The gateway process SIGKILLed in the middle of many concurrent small writes (parts in flight, flush rounds open,
/// metadata batches half-gathered), then started again on the same data: every acknowledged object reads back whole,
/// and an object whose write was cut off is absent or whole, never partial.
/// </summary>
public sealed class KilledDuringWritesTests
{
    private const int Writers = 16;

    [Fact]
    public async Task Every_acknowledged_object_is_complete_after_a_kill_and_nothing_half_written_is_visible()
    {
        using var data = new TempDirectory("gateway-killed");
        var acknowledged = new ConcurrentDictionary<string, byte[]>();
        var attempted = new ConcurrentDictionary<string, byte[]>();
        await using (var gateway = await GatewayProcess.StartAsync(dataPath: data.Path))
        {
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    // Mostly small objects (replicated), every eighth a multi-stripe one (erasure-coded).
                    var key = $"w{writer}x{i}";
                    var body = TestData.Bytes(i % 8 == 7 ? 2_000_000 + i : 1 + (i * 997 % 8192), (writer * 100_000) + i);
                    attempted[key] = body;
                    try
                    {
                        using var response = await gateway.Client.PutAsync($"/object/{key}", new ByteArrayContent(body), CancellationToken.None);
                        if (response.IsSuccessStatusCode)
                        {
                            acknowledged[key] = body;
                        }
                        else if (acknowledged.IsEmpty)
                        {
                            // Refused before any kill: the test itself is wrong, not the gateway's durability.
                            throw new Xunit.Sdk.XunitException($"PUT {key} answered {response.StatusCode}");
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // The process died under this request.
                        return;
                    }
                }
            })).ToArray();

            await Poll.UntilAsync(() => Task.FromResult(acknowledged.Count >= 200 || writers.Any(w => w.IsFaulted)), TimeSpan.FromSeconds(60), "200 objects acknowledged");
            await gateway.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
        }

        await using var restarted = await GatewayProcess.StartAsync(dataPath: data.Path);
        foreach (var (key, body) in attempted)
        {
            using var response = await restarted.Client.GetAsync($"/object/{key}");
            if (acknowledged.ContainsKey(key))
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"acknowledged {key}: {response.StatusCode}");
                var read = await response.Content.ReadAsByteArrayAsync();
                Assert.True(body.SequenceEqual(read), $"acknowledged {key} differs");
            }
            else if (response.StatusCode != HttpStatusCode.NotFound)
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"cut-off {key}: {response.StatusCode}");
                var read = await response.Content.ReadAsByteArrayAsync();
                Assert.True(body.SequenceEqual(read), $"cut-off {key} is visible but not whole");
            }
        }
    }
}
