namespace Storage.AppHost.Resources;

/// <summary>MinIO servers for the AppHost: containers (<see cref="AddMinio"/>) or local processes (<see cref="AddMinioServer"/>).</summary>
public static class MinioBuilderExtensions
{
    /// <summary>The image the toolkit pins; users with a registry get the real MinIO.</summary>
    public const string DefaultImage = "docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z";

    public const string HttpEndpointName = "http";
    public const string ConsoleEndpointName = "console";

    /// <summary>MinIO's liveness endpoint (answers without credentials).</summary>
    public const string HealthPath = "/minio/health/live";

    private const string DefaultRootUser = "minioadmin";

    /// <summary>A MinIO container: S3 on <c>http</c> (9000), the console on <c>console</c> (9001), data under /data.</summary>
    public static IResourceBuilder<MinioContainerResource> AddMinio(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        string image = DefaultImage,
        IResourceBuilder<ParameterResource>? rootUser = null,
        IResourceBuilder<ParameterResource>? rootPassword = null)
    {
        var (user, password) = Credentials(builder, name, rootUser, rootPassword);
        return builder.AddResource(new MinioContainerResource(name, user, password))
            .WithImageReference(image)
            .WithHttpEndpoint(targetPort: 9000, name: HttpEndpointName)
            .WithHttpEndpoint(targetPort: 9001, name: ConsoleEndpointName)
            .WithEnvironment("MINIO_ROOT_USER", user)
            .WithEnvironment("MINIO_ROOT_PASSWORD", password)
            .WithArgs("server", "/data", "--console-address", ":9001")
            .WithHttpHealthCheck(HealthPath, endpointName: HttpEndpointName)
            .WithEndpointNames();
    }

    /// <summary>Keeps /data in a named volume (by default named after the AppHost and the resource, so it survives restarts).</summary>
    public static IResourceBuilder<MinioContainerResource> WithDataVolume(this IResourceBuilder<MinioContainerResource> builder, string? name = null) =>
        builder.WithVolume(name ?? VolumeNameGenerator.Generate(builder, "data"), "/data");

    /// <summary>
    /// A local <c>minio server</c> process on loopback, ports allocated by the orchestrator, data in
    /// <paramref name="dataFolder"/>. <paramref name="command"/> is the minio executable (or anything with its command line).
    /// </summary>
    public static IResourceBuilder<MinioServerResource> AddMinioServer(
        this IDistributedApplicationBuilder builder,
        [ResourceName] string name,
        string command,
        string dataFolder,
        IResourceBuilder<ParameterResource>? rootUser = null,
        IResourceBuilder<ParameterResource>? rootPassword = null)
    {
        var (user, password) = Credentials(builder, name, rootUser, rootPassword);
        var server = new MinioServerResource(name, command, dataFolder, user, password);
        var console = new EndpointReference(server, ConsoleEndpointName);
        return builder.AddResource(server)
            .WithHttpEndpoint(name: HttpEndpointName)
            .WithHttpEndpoint(name: ConsoleEndpointName)
            .WithEnvironment("MINIO_ROOT_USER", user)
            .WithEnvironment("MINIO_ROOT_PASSWORD", password)
            .WithArgs(
                "server", dataFolder,
                "--address", ReferenceExpression.Create($"127.0.0.1:{server.PrimaryEndpoint.Property(EndpointProperty.TargetPort)}"),
                "--console-address", ReferenceExpression.Create($"127.0.0.1:{console.Property(EndpointProperty.TargetPort)}"))
            .WithHttpHealthCheck(HealthPath, endpointName: HttpEndpointName)
            .WithEndpointNames();
    }

    /// <summary>Labels the two URLs on the dashboard, which otherwise shows two bare addresses.</summary>
    private static IResourceBuilder<T> WithEndpointNames<T>(this IResourceBuilder<T> builder)
        where T : IMinioResource =>
        builder
            .WithUrlForEndpoint(HttpEndpointName, url => url.DisplayText = "S3 API")
            .WithUrlForEndpoint(ConsoleEndpointName, url => url.DisplayText = "Console");

    /// <summary>Sets a whole image reference (<c>[registry/]image[:tag]</c>), replacing the registry a resource came with.</summary>
    public static IResourceBuilder<T> WithImageReference<T>(this IResourceBuilder<T> builder, string reference)
        where T : ContainerResource =>
        builder.WithImage(reference).WithImageRegistry(null);

    /// <summary>
    /// The root user (MinIO's default) and a generated password without special characters, so that it can sit in a
    /// <c>Key=Value;…</c> connection string; kept in the AppHost's user secrets so that a node keeps its password.
    /// </summary>
    private static (ParameterResource User, ParameterResource Password) Credentials(
        IDistributedApplicationBuilder builder, string name, IResourceBuilder<ParameterResource>? rootUser, IResourceBuilder<ParameterResource>? rootPassword) =>
        (rootUser?.Resource ?? new ParameterResource($"{name}-user", _ => DefaultRootUser),
         rootPassword?.Resource ?? ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false));
}
