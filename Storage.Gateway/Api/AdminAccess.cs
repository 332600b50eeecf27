using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Api;

/// <summary>
/// Who may use /admin: with <c>Storage:AdminKey</c> set, any client presenting it as a bearer token; without it,
/// only clients on loopback — so exposing the gateway's port (as the AppHost does) never exposes node management.
/// </summary>
public static class AdminAccess
{
    public static bool IsAllowed(IPAddress? remote, string? authorization, string? adminKey)
    {
        if (string.IsNullOrEmpty(adminKey))
        {
            return remote is not null && IPAddress.IsLoopback(remote);
        }

        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(
            Encoding.UTF8.GetBytes(authorization[Scheme.Length..].Trim()),
            Encoding.UTF8.GetBytes(adminKey));
    }

    public static RouteGroupBuilder RequireAdminAccess(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var key = http.RequestServices.GetRequiredService<IOptions<StorageOptions>>().Value.AdminKey;
            if (AdminAccess.IsAllowed(http.Connection.RemoteIpAddress, http.Request.Headers.Authorization, key))
            {
                return await next(context);
            }

            return string.IsNullOrEmpty(key)
                ? TypedResults.Problem("The admin API is served to loopback clients only; set Storage:AdminKey to allow others with a bearer key.", statusCode: StatusCodes.Status403Forbidden, title: "Forbidden")
                : TypedResults.Problem("The admin API needs 'Authorization: Bearer <Storage:AdminKey>'.", statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");
        });
        return group;
    }
}
