using System.Diagnostics;
using System.Globalization;
using Storage.Gateway.Security;

namespace Storage.LoadBench;

/// <summary>
/// One gateway process, two buckets that differ in one setting (versioning, default encryption), the same requests to
/// both in interleaved rounds, so drift in disk or CPU state affects both alike.
/// </summary>
internal static class BucketComparison
{
    /// <summary>Median seconds of PUT and GET of the same large object, per bucket, rounds alternating between them.</summary>
    public static async Task<(List<double> Put, List<double> Get)[]> LargeRoundsAsync(IReadOnlyList<S3Benchmark.SignedClient> clients, byte[] body, int iterations)
    {
        var times = clients.Select(_ => (Put: new List<double>(), Get: new List<double>())).ToArray();
        foreach (var client in clients)
        {
            await client.PutAsync("warmup", body);
            await client.GetAsync("warmup");
        }

        for (var i = 0; i < iterations; i++)
        {
            foreach (var (client, index) in clients.Select((c, n) => (c, n)))
            {
                var put = Stopwatch.StartNew();
                await client.PutAsync("large", body);
                times[index].Put.Add(put.Elapsed.TotalSeconds);
                var get = Stopwatch.StartNew();
                await client.GetAsync("large");
                times[index].Get.Add(get.Elapsed.TotalSeconds);
            }
        }

        return times;
    }

    public static string Line(string what, string store, double baseline, double measured, bool lowerIsBetter = false) =>
        string.Create(CultureInfo.InvariantCulture, $"| {what} | {store} | {baseline:F1} | {measured:F1} | {measured / baseline:F2} ×{(lowerIsBetter ? " (lower is better)" : "")} |");

    public static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static async Task SendAsync(HttpClient http, HttpMethod method, Uri uri, string? body)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = body is null ? null : new StringContent(body) };
        SigV4.Sign(request, S3Benchmark.AccessKey, S3Benchmark.Secret, "us-east-1", DateTimeOffset.UtcNow, body is null ? SigV4.UnsignedPayload : SigV4.Sha256Hex(body));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }
}
