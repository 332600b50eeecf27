namespace Storage.Tests.Fixtures;

/// <summary>The local images built from this machine's own binaries (.ci/stand-ins/build-images.sh), and the volumes a run leaves.</summary>
public static class StandInImages
{
    public const string Minio = "storage-standin/minio:local";
    public const string Redis = "storage-standin/redis:local";
    public const string Gateway = "storage-standin/gateway:local";

    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();

    /// <summary>Builds both images (a few seconds; Docker's cache makes a rebuild cheap) so the test never runs stale ones.</summary>
    public static Task EnsureBuiltAsync() =>
        CommandLine.RunCheckedAsync(Path.Combine(Repository.Root, ".ci", "stand-ins", "build-images.sh"), [], NoEnvironment, TimeSpan.FromMinutes(5));

    /// <summary>
    /// Builds the gateway's image from the gateway build these tests run against (its output folder next to theirs,
    /// same configuration) on this machine's .NET runtime (.ci/stand-ins/build-gateway-image.sh).
    /// </summary>
    public static Task EnsureGatewayBuiltAsync()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var output = Path.Combine(Repository.Root, "Storage.Gateway", "bin", configuration, "net10.0");
        return CommandLine.RunCheckedAsync(Path.Combine(Repository.Root, ".ci", "stand-ins", "build-gateway-image.sh"), [output], NoEnvironment, TimeSpan.FromMinutes(5));
    }

    /// <summary>
    /// Removes the named volumes a run with this prefix created (the AppHost keeps them across its restarts, as it
    /// should). The orchestrator removes its containers just after the app stops, so a volume may still be in use for
    /// a few seconds: removal is retried until then.
    /// </summary>
    public static async Task RemoveVolumesAsync(string prefix)
    {
        var volumes = await CommandLine.RunCheckedAsync("docker", ["volume", "ls", "--quiet", "--filter", $"name={prefix}"], NoEnvironment, TimeSpan.FromMinutes(1));
        var names = volumes.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (names.Length > 0)
        {
            var (exitCode, output) = await CommandLine.RunAsync("docker", ["volume", "rm", "--force", .. names], NoEnvironment, TimeSpan.FromMinutes(1));
            if (exitCode == 0)
            {
                return;
            }

            if (!output.Contains("volume is in use", StringComparison.Ordinal) || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"docker volume rm {string.Join(' ', names)} exited with {exitCode}: {output}");
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }
}
