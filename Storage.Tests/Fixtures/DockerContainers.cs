namespace Storage.Tests.Fixtures;

/// <summary>
/// Containers and a network on the real Docker engine, all named with one random prefix (so a test sees only its own
/// and concurrent runs never collide), removed at the end. Driven through the docker command line.
/// </summary>
public sealed class DockerContainers : IAsyncDisposable
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();

    private readonly List<string> _names = [];
    private bool _networkCreated;

    public DockerContainers(string kind)
    {
        Prefix = $"st{Guid.NewGuid():N}"[..10] + "-" + kind;
        Network = Prefix + "-net";
    }

    public string Prefix { get; }

    public string Network { get; }

    /// <summary>Skips the test, loudly, where no engine answers.</summary>
    public static async Task RequireEngineAsync(CancellationToken cancellationToken)
    {
        var engine = await Storage.AppHost.ContainerEngine.ProbeAsync("docker", cancellationToken);
        if (!engine.Answers)
        {
            Assert.Skip($"DOCKER TESTS NOT RUN: no Docker engine answers ({engine.Detail}). .ci/test.sh installs docker.io and starts dockerd.");
        }
    }

    public async Task CreateNetworkAsync()
    {
        await DockerAsync("network", "create", Network);
        _networkCreated = true;
    }

    /// <summary>A MinIO stand-in named <c>Prefix-suffix</c> on the network; with <paramref name="keys"/> in its environment as MinIO's root user.</summary>
    public async Task<string> RunNodeAsync(string suffix, (string User, string Password)? keys)
    {
        var name = $"{Prefix}-{suffix}";
        _names.Add(name);
        List<string> arguments = ["run", "--detach", "--init", "--name", name, "--network", Network];
        if (keys is { } k)
        {
            arguments.AddRange(["--env", $"MINIO_ROOT_USER={k.User}", "--env", $"MINIO_ROOT_PASSWORD={k.Password}"]);
        }

        await DockerAsync([.. arguments, StandInImages.Minio]);
        return name;
    }

    /// <summary>Removes <paramref name="name"/> at the end too (a container a test ran itself).</summary>
    public void Track(string name) => _names.Add(name);

    public static Task StopAsync(string name) => DockerAsync("stop", "--time", "1", name);

    public static Task<string> DockerAsync(params string[] arguments) =>
        CommandLine.RunCheckedAsync("docker", arguments, NoEnvironment, TimeSpan.FromMinutes(2));

    /// <summary>Removes the containers and the network; a second call has nothing left to do.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_names.Count > 0)
        {
            await CommandLine.RunAsync("docker", ["rm", "--force", "--volumes", .. _names], NoEnvironment, TimeSpan.FromMinutes(2));
            _names.Clear();
        }

        if (_networkCreated)
        {
            await CommandLine.RunAsync("docker", ["network", "rm", Network], NoEnvironment, TimeSpan.FromMinutes(1));
            _networkCreated = false;
        }
    }
}
