using Microsoft.Extensions.DependencyInjection;

namespace Storage.AppHost.Resources;

public static class RedisServerBuilderExtensions
{
    private const string ConfigFileName = "redis.conf";

    /// <summary>
    /// <c>redis-server</c> on loopback with its data in <paramref name="dataFolder"/> and a generated password. The
    /// password goes into an owner-only configuration file written just before the process starts, never onto its
    /// command line (which every local user can read). Further <c>WithArgs</c> are passed to redis-server as options.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(
        this IDistributedApplicationBuilder builder, [ResourceName] string name, string command, string dataFolder)
    {
        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false);
        var redis = new RedisServerResource(name, command, dataFolder, password);
        var configFile = Path.Combine(dataFolder, ConfigFileName);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, cancellationToken) =>
            connectionString = await redis.ConnectionStringExpression.GetValueAsync(cancellationToken));
        var healthCheck = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException($"The connection string of '{name}' is not available yet."),
            healthCheck);

        return builder.AddResource(redis)
            .WithEndpoint(name: RedisServerResource.EndpointName, scheme: "redis")
            .OnBeforeResourceStarted(async (resource, _, cancellationToken) =>
                await WriteConfigAsync(configFile, resource, await resource.Password.GetValueAsync(cancellationToken), cancellationToken))
            .WithArgs(configFile, "--port", redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort))
            .WithHealthCheck(healthCheck);
    }

    private static async Task WriteConfigAsync(string path, RedisServerResource redis, string? password, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(redis.DataFolder);
        var lines = new List<string> { "bind 127.0.0.1", $"dir \"{redis.DataFolder}\"" };
        if (!string.IsNullOrEmpty(password))
        {
            lines.Add($"requirepass \"{password}\"");
        }

        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var file = new FileStream(path, options);
        await using var writer = new StreamWriter(file);
        foreach (var line in lines)
        {
            await writer.WriteLineAsync(line.AsMemory(), cancellationToken);
        }
    }
}
