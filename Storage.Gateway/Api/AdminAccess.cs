using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Storage.Gateway.Api.S3;
using Storage.Gateway.Hosting;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api;

/// <summary>
/// Who may use /admin: a request signed (SigV4, as for S3) by an administrator key, from anywhere; otherwise, with
/// <c>Storage:AdminKey</c> set, any client presenting it as a bearer token; without it, only clients on loopback — so
/// exposing the gateway's port (as the AppHost does) never exposes node management.
/// </summary>
public static class AdminAccess
{
    /// <summary>Admin requests are small JSON documents; a signed one is read whole to check its payload hash.</summary>
    private const int MaxSignedBodyBytes = 64 * 1024;

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
            if (IsSigned(http.Request))
            {
                return await CheckSignatureAsync(http) is { } refusal ? refusal : await next(context);
            }

            var key = http.RequestServices.GetRequiredService<IOptions<StorageOptions>>().Value.AdminKey;
            if (IsAllowed(http.Connection.RemoteIpAddress, http.Request.Headers.Authorization, key))
            {
                return await next(context);
            }

            return string.IsNullOrEmpty(key)
                ? TypedResults.Problem("The admin API is served to loopback clients only; sign requests with an administrator S3 key, or set Storage:AdminKey to allow others with a bearer key.", statusCode: StatusCodes.Status403Forbidden, title: "Forbidden")
                : TypedResults.Problem("The admin API needs a request signed by an administrator S3 key, or 'Authorization: Bearer <Storage:AdminKey>'.", statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized");
        });
        return group;
    }

    private static bool IsSigned(HttpRequest request) =>
        request.Headers.Authorization.ToString().StartsWith(SigV4.Algorithm + " ", StringComparison.Ordinal) || request.Query.ContainsKey("X-Amz-Algorithm");

    /// <summary>
    /// Null when an administrator key signed the request, its body included (unlike S3, no unsigned or streamed payload:
    /// an admin request's body says which folder becomes a node). Otherwise the refusal; a bad signature is never
    /// passed on to the loopback or bearer rules.
    /// </summary>
    private static async Task<IResult?> CheckSignatureAsync(HttpContext http)
    {
        var services = http.RequestServices;
        http.Request.EnableBuffering(MaxSignedBodyBytes);
        try
        {
            string bodyHash;
            long length;
            using (var body = await S3Xml.ReadDocumentAsync(http.Request.Body, MaxSignedBodyBytes, http.RequestAborted))
            {
                (bodyHash, length) = (Convert.ToHexStringLower(SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length))), body.Length);
            }

            http.Request.Body.Position = 0;
            var (path, query) = RequestTarget.Of(http) ?? throw S3Exception.InvalidRequest("The request target is not a path.");
            var signing = services.GetRequiredService<SignatureVerifier>().Verify(http.Request, path, query, bodyHash)!;
            if (!(signing.PayloadHash == SigV4.UnsignedPayload ? length == 0 : string.Equals(signing.PayloadHash, bodyHash, StringComparison.OrdinalIgnoreCase)))
            {
                return Refuse("The body does not match the signed x-amz-content-sha256 (admin requests sign their body; UNSIGNED-PAYLOAD only without one).");
            }

            return services.GetRequiredService<S3Credentials>().GrantsOf(signing.AccessKey).IsAdministrator
                ? null
                : Refuse($"The access key {signing.AccessKey} is not an administrator.");
        }
        catch (S3Exception ex)
        {
            return Refuse(ex.Message);
        }
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Refuse(string message) => TypedResults.Problem(message, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");
}
