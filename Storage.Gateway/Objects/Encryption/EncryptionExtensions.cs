namespace Storage.Gateway.Objects.Encryption;

public static class EncryptionExtensions
{
    /// <summary>Encryption at rest, with its own validated section (<see cref="EncryptionOptions.Section"/>).</summary>
    public static IServiceCollection AddEncryption(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EncryptionOptions>()
            .Bind(configuration.GetSection(EncryptionOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<MasterKeys>();
        services.AddSingleton<ObjectEncryptor>();
        services.AddSingleton<BucketEncryptionDefaults>();
        return services;
    }
}
