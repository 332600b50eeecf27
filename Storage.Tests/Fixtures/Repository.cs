namespace Storage.Tests.Fixtures;

/// <summary>The repository the tests were built from: tools .ci/test.sh installs (.tools/) and the stand-ins it builds.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>The MinIO stand-in (s3rver behind MinIO's command line), run as a local <c>minio</c> executable.</summary>
    public static string MinioStandIn => Path.Combine(Root, ".ci", "stand-ins", "minio", "minio.js");

    public static string Tool(params string[] parts) => Path.Combine([Root, ".tools", .. parts]);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Storage.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Storage.sln above {AppContext.BaseDirectory}: the tests run from the repository's build output.");
    }
}
