namespace Storage.AppHost.Resources;

/// <summary>
/// A MinIO server in a container: the resource <c>CommunityToolkit.Aspire.Hosting.Minio</c> provides, written here
/// because that package is not served on this project's machines. Same endpoints, credentials, health check and
/// connection string, so a gateway reads it exactly as it would read the toolkit's.
/// </summary>
public sealed class MinioContainerResource(string name, ParameterResource rootUser, ParameterResource rootPassword)
    : ContainerResource(name), IMinioResource
{
    public ParameterResource RootUser { get; } = rootUser;

    public ParameterResource RootPassword { get; } = rootPassword;

    public EndpointReference PrimaryEndpoint => field ??= new(this, MinioBuilderExtensions.HttpEndpointName);

    public ReferenceExpression ConnectionStringExpression => IMinioResource.ConnectionString(this);
}

/// <summary>The same server as a local process (<c>minio server DIR</c>), for machines without a container engine.</summary>
public sealed class MinioServerResource(string name, string command, string dataFolder, ParameterResource rootUser, ParameterResource rootPassword)
    : ExecutableResource(name, command, dataFolder), IMinioResource
{
    public ParameterResource RootUser { get; } = rootUser;

    public ParameterResource RootPassword { get; } = rootPassword;

    public EndpointReference PrimaryEndpoint => field ??= new(this, MinioBuilderExtensions.HttpEndpointName);

    public ReferenceExpression ConnectionStringExpression => IMinioResource.ConnectionString(this);
}

/// <summary>What both kinds of MinIO server publish.</summary>
public interface IMinioResource : IResourceWithConnectionString, IResourceWithEndpoints
{
    ParameterResource RootUser { get; }

    ParameterResource RootPassword { get; }

    EndpointReference PrimaryEndpoint { get; }

    /// <summary>The toolkit's format, which the gateway parses: <c>Endpoint=http://host:port;AccessKey=…;SecretKey=…</c>.</summary>
    static ReferenceExpression ConnectionString(IMinioResource minio) =>
        ReferenceExpression.Create($"Endpoint={minio.PrimaryEndpoint.Property(EndpointProperty.Url)};AccessKey={minio.RootUser};SecretKey={minio.RootPassword}");
}
