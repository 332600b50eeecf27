namespace Storage.Gateway.Lifecycle;

public static class LifecycleExtensions
{
    /// <summary>Lifecycle rules and their expirer, with their own validated section (<see cref="LifecycleOptions.Section"/>).</summary>
    public static IServiceCollection AddLifecycle(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LifecycleOptions>()
            .Bind(configuration.GetSection(LifecycleOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<BucketLifecycles>();
        services.AddSingleton<LifecycleExpirer>();
        services.AddHostedService(sp => sp.GetRequiredService<LifecycleExpirer>());
        return services;
    }
}
