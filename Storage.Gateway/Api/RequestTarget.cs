using Microsoft.AspNetCore.Http.Features;

namespace Storage.Gateway.Api;

/// <summary>
/// The request line's target exactly as sent (Kestrel's normalised path would turn <c>a/../b</c> into <c>b</c>): what
/// S3 addresses and what a signature covers.
/// </summary>
public static class RequestTarget
{
    /// <summary>The still percent-encoded path and the query without '?'; null for a target that is no path (<c>*</c>).</summary>
    public static (string Path, string Query)? Of(HttpContext http)
    {
        var target = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? http.Request.Path + http.Request.QueryString;
        if (!target.StartsWith('/') && Uri.TryCreate(target, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https")
        {
            target = absolute.PathAndQuery;
        }

        var question = target.IndexOf('?', StringComparison.Ordinal);
        var (path, query) = question < 0 ? (target, string.Empty) : (target[..question], target[(question + 1)..]);
        return path.StartsWith('/') ? (path, query) : null;
    }
}
