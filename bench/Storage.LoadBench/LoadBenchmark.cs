using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Storage.Gateway;

namespace Storage.LoadBench;

/// <summary>
/// Gateway figures beside same-run baselines, all in one process on loopback: 64 MiB objects through
/// <c>/object/{id}</c> against writing/reading the same bytes (×8/6) straight to the eight node folders, and 4 KiB
/// objects at concurrency 16 against a one-file-per-object endpoint.
/// </summary>
public sealed class LoadBenchmark : IAsyncDisposable
{
    private const int KeysPerWorker = 64;

    private const long LargeMixedBytes = 1L << 30;

    private readonly LoadBenchOptions _options;
    private readonly string _data;
    private readonly bool _ownsData;
    private readonly WebApplication _gateway;
    private readonly WebApplication _baseline;
    private readonly HttpClient _client;
    private readonly Uri _gatewayAddress;
    private readonly Uri _baselineAddress;

    private readonly byte[] _large;

    private LoadBenchmark(LoadBenchOptions options, string data, bool ownsData, WebApplication gateway, WebApplication baseline, Uri baselineAddress, byte[] large)
    {
        _large = large;
        _options = options;
        _data = data;
        _ownsData = ownsData;
        _gateway = gateway;
        _baseline = baseline;
        _gatewayAddress = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        _baselineAddress = baselineAddress;
        _client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = LoadBenchOptions.Concurrency + 1, UseProxy = false })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
    }

    public static async Task<LoadBenchmark> StartAsync(LoadBenchOptions options)
    {
        var data = options.DataPath ?? Path.Combine(Path.GetTempPath(), $"storage-loadbench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        var gateway = await GatewayApp.CreateAsync(["--urls=http://127.0.0.1:0", $"--Storage:DataPath={data}", "--Logging:LogLevel:Default=Warning"]);
        await gateway.StartAsync();
        var large = new byte[LoadBenchOptions.LargeObjectBytes];
        new Random(1).NextBytes(large);
        var (baseline, baselineAddress) = await BaselineServer.StartAsync(Path.Combine(data, "baseline"), large);
        return new LoadBenchmark(options, data, options.DataPath is null, gateway, baseline, baselineAddress, large);
    }

    public async Task<string> RunAsync()
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; data under {_data}");
        report.AppendLine();

        var gatewayLarge = await MeasureLargeOverHttpAsync(new Uri(_gatewayAddress, "/object/"), _large);
        var baselineLarge = await MeasureLargeStraightToFoldersAsync(_large);
        var transportLarge = await MeasureLargeOverHttpAsync(new Uri(_baselineAddress, "/transport/"), _large);
        report.AppendLine("| 64 MiB objects | PUT MB/s | GET MB/s |");
        report.AppendLine("|---|---:|---:|");
        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway `/object/{{id}}`, 8 folder nodes, 6+2 | {gatewayLarge.Put:F0} | {gatewayLarge.Get:F0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| baseline: same bytes ×8/6 straight to the 8 folders | {baselineLarge.Put:F0} | {baselineLarge.Get:F0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway / baseline | {gatewayLarge.Put / baselineLarge.Put:P0} | {gatewayLarge.Get / baselineLarge.Get:P0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| reference: HTTP alone (PUT body discarded, GET from memory) | {transportLarge.Put:F0} | {transportLarge.Get:F0} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway / HTTP alone | {gatewayLarge.Put / transportLarge.Put:P0} | {gatewayLarge.Get / transportLarge.Get:P0} |");
        report.AppendLine();

        var small = new byte[LoadBenchOptions.SmallObjectBytes];
        new Random(2).NextBytes(small);
        report.AppendLine(CultureInfo.InvariantCulture, $"| 4 KiB objects, concurrency {LoadBenchOptions.Concurrency}, {_options.Seconds} s each | ops/s | p50 ms | p99 ms |");
        report.AppendLine("|---|---:|---:|---:|");
        (string Name, Uri Prefix)[] targets = [("gateway", new Uri(_gatewayAddress, "/object/")), ("baseline: one local file", new Uri(_baselineAddress, "/baseline/"))];

        // Both servers run every operation untimed first, so neither is measured while its code is still being tiered
        // up by the JIT (the gateway's GET path used to be measured cold, right after its PUTs, and the baseline warm).
        foreach (var (_, prefix) in targets)
        {
            await SeedSmallAsync(prefix, small);
            await RunSmallAsync(prefix, small, HttpMethod.Put, WarmUp);
            await RunSmallAsync(prefix, small, HttpMethod.Get, WarmUp);
        }

        var puts = new List<SmallResult>();
        var gets = new List<SmallResult>();
        foreach (var (_, prefix) in targets)
        {
            await SettleAsync();
            puts.Add(await RunSmallAsync(prefix, small, HttpMethod.Put, Timed));
        }

        foreach (var (_, prefix) in targets)
        {
            await SettleAsync();
            gets.Add(await RunSmallAsync(prefix, small, HttpMethod.Get, Timed));
        }

        for (var t = 0; t < targets.Length; t++)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {targets[t].Name} PUT | {puts[t].OpsPerSecond:F0} | {puts[t].P50:F2} | {puts[t].P99:F2} |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| {targets[t].Name} GET | {gets[t].OpsPerSecond:F0} | {gets[t].P50:F2} | {gets[t].P99:F2} |");
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway / baseline | {puts[0].OpsPerSecond / puts[1].OpsPerSecond:P0} PUT, {gets[0].OpsPerSecond / gets[1].OpsPerSecond:P0} GET | | {puts[0].P99 / puts[1].P99:F2} × PUT p99 |");

        // Mixed load: the same small PUTs while one 1 GiB PUT streams in, against the same small PUTs alone just before.
        await SettleAsync();
        var alone = await RunSmallAsync(new Uri(_gatewayAddress, "/object/"), small, HttpMethod.Put, Timed);
        var (mixed, largeSeconds) = await RunSmallBesideLargePutAsync(small);
        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway PUT, just before the next row | {alone.OpsPerSecond:F0} | {alone.P50:F2} | {alone.P99:F2} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| gateway PUT while a 1 GiB PUT runs ({largeSeconds:F1} s, {LargeMixedBytes / largeSeconds / 1e6:F0} MB/s) | {mixed.OpsPerSecond:F0} | {mixed.P50:F2} | {mixed.P99:F2} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| p99 beside the large PUT / alone | | | {mixed.P99 / alone.P99:F2} × |");

        return report.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _gateway.StopAsync();
        await _gateway.DisposeAsync();
        await _baseline.StopAsync();
        await _baseline.DisposeAsync();
        if (_ownsData)
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private async Task<(double Put, double Get)> MeasureLargeOverHttpAsync(Uri prefix, byte[] body)
    {
        var put = Stopwatch.StartNew();
        for (var i = 0; i < _options.LargeIterations; i++)
        {
            using var response = await _client.PutAsync(new Uri(prefix, $"large{i}"), new ByteArrayContent(body));
            response.EnsureSuccessStatusCode();
        }

        var putSeconds = put.Elapsed.TotalSeconds;
        var buffer = new byte[1 << 20];
        var get = Stopwatch.StartNew();
        for (var i = 0; i < _options.LargeIterations; i++)
        {
            using var response = await _client.GetAsync(new Uri(prefix, $"large{i}"), HttpCompletionOption.ResponseHeadersRead);
            await using var stream = await response.EnsureSuccessStatusCode().Content.ReadAsStreamAsync();
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }

        return (MegabytesPerSecond(body.Length, putSeconds), MegabytesPerSecond(body.Length, get.Elapsed.TotalSeconds));
    }

    /// <summary>What the gateway's disks must do at least: 8 parts of size/6 written (with fsync) and read, in parallel.</summary>
    private async Task<(double Put, double Get)> MeasureLargeStraightToFoldersAsync(byte[] body)
    {
        var partLength = (body.Length + 5) / 6;
        var folders = Enumerable.Range(1, 8).Select(n => Path.Combine(_data, "nodes", $"node{n}", "baseline")).ToArray();
        foreach (var folder in folders)
        {
            Directory.CreateDirectory(folder);
        }

        var put = Stopwatch.StartNew();
        for (var i = 0; i < _options.LargeIterations; i++)
        {
            await Task.WhenAll(folders.Select((folder, n) => WritePartAsync(
                Path.Combine(folder, $"large{i}"),
                body.AsMemory(Math.Min((n % 6) * partLength, body.Length - partLength), partLength))));
        }

        var putSeconds = put.Elapsed.TotalSeconds;
        var get = Stopwatch.StartNew();
        for (var i = 0; i < _options.LargeIterations; i++)
        {
            await Task.WhenAll(folders.Select(folder => ReadPartAsync(Path.Combine(folder, $"large{i}"))));
        }

        return (MegabytesPerSecond(body.Length, putSeconds), MegabytesPerSecond(body.Length, get.Elapsed.TotalSeconds));
    }

    private static async Task WritePartAsync(string path, ReadOnlyMemory<byte> bytes)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous);
        for (var offset = 0; offset < bytes.Length; offset += 256 * 1024)
        {
            await file.WriteAsync(bytes.Slice(offset, Math.Min(256 * 1024, bytes.Length - offset)));
        }

        file.Flush(flushToDisk: true);
    }

    private static async Task ReadPartAsync(string path)
    {
        var buffer = new byte[256 * 1024];
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous);
        while (await file.ReadAsync(buffer) > 0)
        {
        }
    }

    /// <summary>Every key the timed runs touch exists beforehand, so GETs never miss and PUTs are overwrites.</summary>
    private async Task SeedSmallAsync(Uri prefix, byte[] body) =>
        await Task.WhenAll(Enumerable.Range(0, LoadBenchOptions.Concurrency).Select(async worker =>
        {
            for (var i = 0; i < KeysPerWorker; i++)
            {
                using var response = await _client.PutAsync(new Uri(prefix, SmallKey(worker, i)), new ByteArrayContent(body));
                response.EnsureSuccessStatusCode();
            }
        }));

    private static string SmallKey(int worker, int i) => $"s{worker}x{i % KeysPerWorker}";

    /// <summary>Small PUTs from the moment a 1 GiB PUT starts until it ends (or the run's seconds pass); the large PUT's seconds.</summary>
    private async Task<(SmallResult Small, double LargeSeconds)> RunSmallBesideLargePutAsync(byte[] small)
    {
        var clock = Stopwatch.StartNew();
        var large = Task.Run(async () =>
        {
            using var content = new StreamContent(new RepeatingStream(_large, LargeMixedBytes));
            content.Headers.ContentLength = LargeMixedBytes;
            using var response = await _client.PutAsync(new Uri(_gatewayAddress, "/object/mixedlarge"), content);
            response.EnsureSuccessStatusCode();
            return clock.Elapsed.TotalSeconds;
        });
        var result = await RunSmallAsync(new Uri(_gatewayAddress, "/object/"), small, HttpMethod.Put, Timed, large);
        return (result, await large);
    }

    /// <summary>
    /// Before a timed run: what the previous one left dirty is written out and the disk gets a second, so a run is not
    /// charged for its predecessor's write-back (the baseline's fsyncs used to wait behind the gateway's pages).
    /// </summary>
    private async Task SettleAsync()
    {
        Storage.Gateway.Nodes.DiskFlush.FileSystem(_data);
        await Task.Delay(TimeSpan.FromSeconds(1));
    }

    /// <summary>The untimed run before any is measured: a quarter of a timed one, at least two seconds.</summary>
    private TimeSpan WarmUp => TimeSpan.FromSeconds(Math.Max(2, _options.Seconds / 4.0));

    private TimeSpan Timed => TimeSpan.FromSeconds(_options.Seconds);

    private async Task<SmallResult> RunSmallAsync(Uri prefix, byte[] body, HttpMethod method, TimeSpan duration, Task? until = null)
    {
        using var stop = new CancellationTokenSource(duration);
        var latencies = new List<double>[LoadBenchOptions.Concurrency];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, LoadBenchOptions.Concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = [];
            var buffer = new byte[body.Length];
            for (var i = 0; !stop.IsCancellationRequested && until?.IsCompleted != true; i++)
            {
                var uri = new Uri(prefix, SmallKey(worker, i));
                var started = Stopwatch.GetTimestamp();
                using var request = new HttpRequestMessage(method, uri) { Content = method == HttpMethod.Put ? new ByteArrayContent(body) : null };
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                if (method == HttpMethod.Get && response.IsSuccessStatusCode)
                {
                    await using var stream = await response.Content.ReadAsStreamAsync();
                    await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
                }

                response.EnsureSuccessStatusCode();
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new SmallResult(all.Length / elapsed, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    private static double Percentile(double[] sorted, double quantile) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(quantile * sorted.Length))];

    private double MegabytesPerSecond(long bytesPerIteration, double seconds) => bytesPerIteration * (double)_options.LargeIterations / seconds / 1e6;

    private sealed record SmallResult(double OpsPerSecond, double P50, double P99);

    /// <summary>A body of any length made of one block repeated, so a 1 GiB PUT costs no 1 GiB array.</summary>
    private sealed class RepeatingStream(byte[] block, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var start = (int)(_position % block.Length);
            var count = (int)Math.Min(Math.Min(buffer.Length, block.Length - start), length - _position);
            block.AsSpan(start, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
