using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Storage.CacheProg.Cache;

/// <summary>
/// Where the worker listens and <c>connect</c> dials: a Unix socket (<c>unix:/path</c> or a path; the default, owner-only)
/// or a loopback TCP port (<c>tcp:127.0.0.1:PORT</c> or <c>host:port</c>).
/// </summary>
public sealed record WorkerAddress(EndPoint EndPoint)
{
    public const string EnvironmentVariable = "STORAGE_CACHEPROG_ADDRESS";

    /// <summary>For <c>serve --listen</c>: no socket (a worker that only takes spooled uploads).</summary>
    public const string None = "none";

    public bool IsUnix => EndPoint is UnixDomainSocketEndPoint;

    /// <summary>$XDG_RUNTIME_DIR/storage-cacheprog.sock, or the socket in the default cache folder.</summary>
    public static string DefaultSocketPath =>
        Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime
            ? Path.Combine(runtime, "storage-cacheprog.sock")
            : Path.Combine(CacheProgOptions.DefaultCacheDirectory, "worker.sock");

    /// <summary>The given address, else $STORAGE_CACHEPROG_ADDRESS, else the default socket.</summary>
    public static WorkerAddress Resolve(string? address) =>
        Parse(address ?? Environment.GetEnvironmentVariable(EnvironmentVariable) ?? DefaultSocketPath);

    public static WorkerAddress Parse(string text)
    {
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            return new WorkerAddress(new UnixDomainSocketEndPoint(text[5..]));
        }

        var hostPort = text.StartsWith("tcp:", StringComparison.Ordinal) ? text[4..] : text;
        var colon = hostPort.LastIndexOf(':');
        if (colon > 0 && int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            && IPAddress.TryParse(hostPort[..colon].Trim('[', ']'), out var ip))
        {
            return new WorkerAddress(new IPEndPoint(ip, port));
        }

        return text.Contains('/', StringComparison.Ordinal) || text.EndsWith(".sock", StringComparison.Ordinal)
            ? new WorkerAddress(new UnixDomainSocketEndPoint(Path.GetFullPath(text)))
            : throw new ArgumentException($"'{text}' is neither a socket path (unix:/path) nor an address (tcp:127.0.0.1:PORT).");
    }

    public Socket CreateSocket() => new(EndPoint.AddressFamily, SocketType.Stream, IsUnix ? ProtocolType.Unspecified : ProtocolType.Tcp);

    public override string ToString() => EndPoint is UnixDomainSocketEndPoint unix ? $"unix:{unix}" : $"tcp:{EndPoint}";
}
