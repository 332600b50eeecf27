using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Storage.LoadBench;

/// <summary>
/// The small-object baseline: an endpoint that stores each body in one local file (temp file, fsync, rename —
/// the least a durable store can do) and serves it back. Same Kestrel, same process as the gateway.
/// </summary>
public static class BaselineServer
{
    public static async Task<(WebApplication App, Uri Address)> StartAsync(string folder)
    {
        Directory.CreateDirectory(folder);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPut("/baseline/{id}", async (string id, HttpRequest request, CancellationToken ct) =>
        {
            var path = Path.Combine(folder, id);
            var temp = path + ".tmp" + Environment.CurrentManagedThreadId;
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                await request.Body.CopyToAsync(file, ct);
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            return Results.Ok();
        });
        app.MapGet("/baseline/{id}", (string id) => Results.File(Path.Combine(folder, id), "application/octet-stream"));
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return (app, address);
    }
}
