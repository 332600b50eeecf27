using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Storage.LoadBench;

/// <summary>
/// The small-object baseline: an endpoint that stores each body in one local file (temp file, fsync, rename,
/// fsync of the folder — the least a durable store can do, and what a folder node does per part) and serves it back. Same Kestrel, same process as the gateway. It also
/// offers the HTTP transport alone — a PUT that discards the body, a GET served from memory — as the ceiling
/// any HTTP store can reach on this machine.
/// </summary>
public static class BaselineServer
{
    public static async Task<(WebApplication App, Uri Address)> StartAsync(string folder, byte[] inMemoryObject)
    {
        Directory.CreateDirectory(folder);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = null);
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
            Storage.Gateway.Nodes.DiskFlush.Directory(folder);
            return Results.Ok();
        });
        app.MapGet("/baseline/{id}", (string id) => Results.File(Path.Combine(folder, id), "application/octet-stream"));
        app.MapPut("/transport/{id}", async (HttpRequest request, CancellationToken ct) =>
        {
            await request.Body.CopyToAsync(Stream.Null, ct);
            return Results.Ok();
        });
        app.MapGet("/transport/{id}", async (HttpResponse response, CancellationToken ct) =>
        {
            response.ContentType = "application/octet-stream";
            response.ContentLength = inMemoryObject.Length;
            for (var offset = 0; offset < inMemoryObject.Length; offset += 256 * 1024)
            {
                await response.Body.WriteAsync(inMemoryObject.AsMemory(offset, Math.Min(256 * 1024, inMemoryObject.Length - offset)), ct);
            }
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return (app, address);
    }
}
