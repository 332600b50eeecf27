using System.Diagnostics;
using Microsoft.Extensions.Configuration;

namespace Storage.AppHost;

/// <summary>Whether the container engine Aspire would use answers: a CLI on PATH is not enough, its daemon must reply.</summary>
public sealed record ContainerEngine(string Name, bool Answers, string Detail)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The runtime Aspire picks: <c>ASPIRE_CONTAINER_RUNTIME</c>, else docker.</summary>
    public static string Runtime(IConfiguration configuration) =>
        configuration["ASPIRE_CONTAINER_RUNTIME"] ?? configuration["DOTNET_ASPIRE_CONTAINER_RUNTIME"] ?? "docker";

    /// <summary>Asks the runtime's daemon for <c>info</c>.</summary>
    public static async Task<ContainerEngine> ProbeAsync(string runtime, CancellationToken cancellationToken = default)
    {
        if (Executables.Find(runtime) is not { } cli)
        {
            return new ContainerEngine(runtime, false, $"no '{runtime}' command on PATH");
        }

        var start = new ProcessStartInfo(cli, ["info", "--format", "{{json .}}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            return new ContainerEngine(runtime, false, $"'{runtime} info' did not answer within {ProbeTimeout.TotalSeconds:0} s");
        }

        await output;
        var message = (await error).Trim();
        return process.ExitCode == 0
            ? new ContainerEngine(runtime, true, $"{runtime} answers")
            : new ContainerEngine(runtime, false, $"'{runtime} info' failed: {FirstLine(message)}");
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0] is { Length: > 0 } line ? line : "no output";
}
