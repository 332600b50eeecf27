namespace Storage.AppHost.Resources;

/// <summary>
/// A local <c>redis-server</c> process: what <c>AddRedis</c> runs in a container, for machines without a container
/// engine. It publishes the same connection string (<c>host:port,password=…</c>) and has the same health check.
/// </summary>
public sealed class RedisServerResource(string name, string command, string dataFolder, ParameterResource password)
    : ExecutableResource(name, command, dataFolder), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public ParameterResource Password { get; } = password;

    public string DataFolder { get; } = dataFolder;

    public EndpointReference PrimaryEndpoint => field ??= new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)},password={Password}");
}
