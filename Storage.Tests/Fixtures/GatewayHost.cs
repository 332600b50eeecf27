using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Storage.Gateway;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A gateway on real Kestrel, bound to a free loopback port, with its own data folder (8 folder nodes and a
/// SQLite file unless the settings say otherwise).
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly TempDirectory? _ownedData;
    private bool _stopped;

    private GatewayHost(WebApplication app, string dataPath, TempDirectory? ownedData)
    {
        App = app;
        DataPath = dataPath;
        _ownedData = ownedData;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
    }

    public WebApplication App { get; }

    public string DataPath { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public string NodePath(string nodeId) => Path.Combine(DataPath, "nodes", nodeId);

    /// <summary>Every stored part file under the data folder's nodes.</summary>
    public IReadOnlyList<string> PartFiles() =>
        Directory.Exists(Path.Combine(DataPath, "nodes"))
            ? Directory.GetFiles(Path.Combine(DataPath, "nodes"), "*", SearchOption.AllDirectories)
                .Where(f => f.Contains($"{Path.DirectorySeparatorChar}parts{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).ToArray()
            : [];

    public static async Task<GatewayHost> StartAsync(IReadOnlyDictionary<string, string>? settings = null, string? dataPath = null)
    {
        var owned = dataPath is null ? new TempDirectory("storage-gateway") : null;
        dataPath ??= owned!.Path;
        var args = new Dictionary<string, string>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Storage:DataPath"] = dataPath,
            ["Storage:Maintenance:ReclaimDelay"] = "00:00:00",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            args[key] = value;
        }

        var app = await GatewayApp.CreateAsync([.. args.Select(a => $"--{a.Key}={a.Value}")]);
        await app.StartAsync();
        return new GatewayHost(app, dataPath, owned);
    }

    /// <summary>
    /// Stops the gateway and releases what it holds (its SQLite metadata above all, which one process at a time may
    /// open), as a process exit would, keeping its data for a gateway started on it next.
    /// </summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        _ownedData?.Dispose();
    }
}
