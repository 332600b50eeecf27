namespace Storage.Tests.Fixtures;

/// <summary>
/// The real go command (1.24 or newer: GOCACHEPROG on by default), found on PATH or where Debian's golang-1.27-go
/// puts it (the test command installs it), and a sandbox for builds: its own GOCACHE, GOPATH and HOME, offline,
/// without cgo, so builds are reproducible and leave nothing behind.
/// </summary>
public static class GoToolchain
{
    private static readonly string[] Candidates = ["/usr/lib/go-1.27/bin/go", "/usr/lib/go-1.26/bin/go", "/usr/lib/go-1.25/bin/go", "/usr/lib/go-1.24/bin/go"];

    /// <summary>
    /// The storage-cacheprog executable as it ships: published with NativeAOT. The test command publishes it once and
    /// names it in <c>STORAGE_CACHEPROG</c>; without that, the first test to ask publishes it (about a minute).
    /// </summary>
    public static string CacheProg => Environment.GetEnvironmentVariable("STORAGE_CACHEPROG") is { Length: > 0 } published ? published : OnDemand.Value;

    private static readonly Lazy<string> OnDemand = new(PublishCacheProg);

    public static string Go =>
        Environment.GetEnvironmentVariable("GO") is { Length: > 0 } configured ? configured
        : Candidates.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(dir => Path.Combine(dir, "go")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("No go command (1.24+) found: run ./.ci/test.sh, which installs golang-1.27-go.");

    /// <summary>Environment for one sandboxed go invocation; <paramref name="cacheProg"/> is the GOCACHEPROG command line, or null for the native cache.</summary>
    public static Dictionary<string, string?> SandboxEnvironment(string sandbox, string? cacheProg, string goCache) => new()
    {
        ["HOME"] = Path.Combine(sandbox, "home"),
        ["GOPATH"] = Path.Combine(sandbox, "gopath"),
        ["GOCACHE"] = goCache,
        ["GOCACHEPROG"] = cacheProg ?? string.Empty,
        ["GOTOOLCHAIN"] = "local",
        ["GOPROXY"] = "off",
        ["GOFLAGS"] = "-mod=mod",
        ["GOTELEMETRY"] = "off",
        ["CGO_ENABLED"] = "0",
        ["XDG_CACHE_HOME"] = Path.Combine(sandbox, "xdg"),
        ["XDG_RUNTIME_DIR"] = null,
        ["AWS_CA_BUNDLE"] = null,
    };

    /// <summary>A small main package that pulls in a fair slice of the standard library.</summary>
    public static string WriteModule(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "go.mod"), "module example.com/hello\n\ngo 1.24\n");
        File.WriteAllText(Path.Combine(folder, "main.go"), """
            package main

            import (
            	"encoding/json"
            	"fmt"
            	"sort"
            	"strings"
            )

            func main() {
            	words := strings.Fields("the quick brown fox")
            	sort.Strings(words)
            	out, _ := json.Marshal(words)
            	fmt.Println(string(out))
            }
            """);
        return folder;
    }

    private static string PublishCacheProg()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "storage-cacheprog-aot");
        var project = Path.Combine(Repository.Root, "Storage.CacheProg", "Storage.CacheProg.csproj");
        CommandLine.RunCheckedAsync("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "--nologo", "-v", "quiet", "-o", folder], new Dictionary<string, string?>(), TimeSpan.FromMinutes(10))
            .GetAwaiter().GetResult();
        return Path.Combine(folder, "storage-cacheprog");
    }
}
