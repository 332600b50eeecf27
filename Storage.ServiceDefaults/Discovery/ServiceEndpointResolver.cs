using Microsoft.Extensions.Configuration;

namespace Storage.ServiceDefaults.Discovery;

/// <summary>
/// Resolves logical service names the way Aspire's configuration-based service discovery does:
/// <c>http://gateway</c> becomes the value of <c>services:gateway:http:0</c>. The scheme
/// <c>https+http://name</c> prefers https and falls back to http. Stands in for
/// Microsoft.Extensions.ServiceDiscovery, which the mirror lacks.
/// </summary>
public sealed class ServiceEndpointResolver(IConfiguration configuration)
{
    public Uri? Resolve(Uri logical)
    {
        if (!logical.IsAbsoluteUri || logical.HostNameType != UriHostNameType.Dns || logical.Host.Contains('.', StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var scheme in logical.Scheme.Split('+'))
        {
            var endpoint = configuration.GetSection($"services:{logical.Host}:{scheme}").GetChildren()
                .OrderBy(child => child.Key, StringComparer.Ordinal)
                .Select(child => child.Value)
                .FirstOrDefault(value => !string.IsNullOrWhiteSpace(value));
            if (endpoint is not null && Uri.TryCreate(endpoint, UriKind.Absolute, out var resolved))
            {
                return new UriBuilder(logical)
                {
                    Scheme = resolved.Scheme,
                    Host = resolved.Host,
                    Port = resolved.Port,
                }.Uri;
            }
        }

        return null;
    }
}
