using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Storage.ServiceDefaults.Discovery;

public static class ServiceDiscoveryExtensions
{
    public static IServiceCollection AddServiceEndpointResolver(this IServiceCollection services)
    {
        services.TryAddSingleton<ServiceEndpointResolver>();
        services.TryAddTransient<ServiceDiscoveryHandler>();
        return services;
    }

    public static IHttpClientBuilder AddServiceDiscovery(this IHttpClientBuilder builder)
    {
        builder.Services.AddServiceEndpointResolver();
        return builder.AddHttpMessageHandler<ServiceDiscoveryHandler>();
    }
}
