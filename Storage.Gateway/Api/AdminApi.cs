using Storage.Gateway.Hosting;
using Storage.Gateway.Maintenance;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Api;

/// <summary>
/// Operator endpoints: nodes with health and fill, adding nodes, the protection summary, and running the sweeper,
/// healing or rebalancing now instead of at their next interval.
/// </summary>
public static class AdminApi
{
    public sealed record AddNodeRequest(string? Id, string? Path);

    public sealed record SweepResponse(int Reclaimed);

    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/admin").WithTags("Admin").RequireAdminAccess();
        group.MapGet("/nodes", (NodeAdministration admin, CancellationToken ct) => admin.DescribeAsync(ct));
        group.MapPost("/nodes", AddNodeAsync);
        group.MapPost("/sweep", async (PartReclaimer reclaimer, CancellationToken ct) => TypedResults.Ok(new SweepResponse(await reclaimer.SweepAsync(ct))));
        group.MapGet("/health", (NodeAdministration admin, MaintenanceStatus maintenance, ProtectionCensus census, CancellationToken ct) => admin.HealthAsync(maintenance, census, ct));
        group.MapPost("/heal", (Healer healer, CancellationToken ct) => healer.HealAsync(ct));
        group.MapPost("/rebalance", (Rebalancer rebalancer, CancellationToken ct) => rebalancer.RebalanceAsync(ct));
        return routes;
    }

    private static async Task<IResult> AddNodeAsync(AddNodeRequest? request, NodeAdministration admin, CancellationToken cancellationToken)
    {
        if (request?.Path is not { Length: > 0 } path || !System.IO.Path.IsPathFullyQualified(path))
        {
            return Problems.BadRequest("Give the new node's folder as an absolute 'path' (and optionally an 'id').");
        }

        if (request.Id is { } id && !NodeIds.IsValid(id))
        {
            return Problems.BadRequest($"Node id '{id}' must be 1-64 letters, digits, '-' or '_'.");
        }

        var record = await admin.AddFolderNodeAsync(request.Id, path, cancellationToken);
        return TypedResults.Created($"/admin/nodes/{record.Id}", record);
    }
}
