using Storage.Gateway.Hosting;

namespace Storage.Gateway;

/// <summary>Builds the gateway; Program runs it, tests and benchmarks host it on real Kestrel with their own arguments.</summary>
public static class GatewayApp
{
    public static async Task<WebApplication> CreateAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults();
        builder.AddGateway();
        var app = builder.Build();
        app.MapGateway();
        await app.InitializeStorageAsync(cancellationToken);
        return app;
    }
}
