using System.Globalization;
using System.Xml.Linq;
using Storage.Gateway.Api.S3.Access;

namespace Storage.Gateway.Api.S3.Browsers;

/// <summary>One CORS rule, as S3 defines it: which origins may use which methods with which request headers.</summary>
public sealed record CorsRule(string? Id, IReadOnlyList<string> Origins, IReadOnlyList<string> Methods, IReadOnlyList<string> Headers, IReadOnlyList<string> ExposeHeaders, int? MaxAgeSeconds)
{
    /// <summary>The rule's origin pattern that matches <paramref name="origin"/> (wildcards as in S3), or null.</summary>
    public string? OriginMatching(string origin) => Origins.FirstOrDefault(pattern => Wildcards.Matches(pattern, origin));

    public bool AllowsHeaders(IEnumerable<string> requested) =>
        requested.All(header => Headers.Any(pattern => Wildcards.Matches(pattern, header, ignoreCase: true)));
}

/// <summary>
/// A bucket's CORS configuration (<c>PutBucketCors</c>'s XML), checked whole with S3's limits and errors, and stored as the
/// bucket document <c>cors</c> in its canonical form.
/// </summary>
public sealed class CorsConfiguration(IReadOnlyList<CorsRule> rules)
{
    public const int MaxRules = 100;
    public const int MaxDocumentBytes = 64 * 1024;

    private static readonly string[] Methods = ["GET", "PUT", "HEAD", "POST", "DELETE"];

    public IReadOnlyList<CorsRule> Rules { get; } = rules;

    /// <summary>The first rule that lets <paramref name="origin"/> send <paramref name="method"/> with <paramref name="headers"/>, as S3 picks it.</summary>
    public (CorsRule Rule, string Origin)? Match(string origin, string method, IEnumerable<string> headers)
    {
        foreach (var rule in Rules)
        {
            if (rule.OriginMatching(origin) is { } pattern && rule.Methods.Contains(method, StringComparer.Ordinal) && rule.AllowsHeaders(headers))
            {
                return (rule, pattern);
            }
        }

        return null;
    }

    public static CorsConfiguration Parse(XElement document)
    {
        if (document.Name.LocalName != "CORSConfiguration")
        {
            throw S3Exception.MalformedXml("the document is a CORSConfiguration.");
        }

        var rules = document.Elements().Select(rule => rule.Name.LocalName == "CORSRule" ? ParseRule(rule) : throw S3Exception.MalformedXml($"a CORSConfiguration holds CORSRule elements, not {rule.Name.LocalName}.")).ToList();
        return rules.Count is 0 or > MaxRules
            ? throw S3Exception.MalformedXml($"a CORSConfiguration holds 1 to {MaxRules} rules.")
            : new CorsConfiguration(rules);
    }

    /// <summary>The stored form (the bucket document) back into rules; it was checked when put.</summary>
    public static CorsConfiguration Parse(string bucket, string document) => Parse(XElement.Parse(document));

    public XElement Render() => S3Xml.Element("CORSConfiguration", Rules.Select(rule => S3Xml.Element("CORSRule",
        rule.Id is null ? null : S3Xml.Element("ID", rule.Id),
        rule.Origins.Select(o => S3Xml.Element("AllowedOrigin", o)),
        rule.Methods.Select(m => S3Xml.Element("AllowedMethod", m)),
        rule.Headers.Select(h => S3Xml.Element("AllowedHeader", h)),
        rule.MaxAgeSeconds is { } age ? S3Xml.Element("MaxAgeSeconds", age.ToString(CultureInfo.InvariantCulture)) : null,
        rule.ExposeHeaders.Select(h => S3Xml.Element("ExposeHeader", h)))));

    private static CorsRule ParseRule(XElement rule)
    {
        string[] known = ["ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "MaxAgeSeconds", "ExposeHeader"];
        if (rule.Elements().FirstOrDefault(e => !known.Contains(e.Name.LocalName)) is { } unknown)
        {
            throw S3Exception.MalformedXml($"a CORSRule has no {unknown.Name.LocalName} element.");
        }

        List<string> Values(string name) => [.. rule.Children(name).Select(e => e.Value.Trim())];
        var id = rule.ChildValue("ID");
        if (id is { Length: > 255 })
        {
            throw S3Exception.InvalidArgument("A CORS rule's ID is at most 255 characters.");
        }

        var origins = Values("AllowedOrigin");
        var methods = Values("AllowedMethod");
        if (origins.Count == 0 || methods.Count == 0)
        {
            throw S3Exception.MalformedXml("every CORSRule has at least one AllowedOrigin and one AllowedMethod.");
        }

        if (methods.FirstOrDefault(m => !Methods.Contains(m, StringComparer.Ordinal)) is { } method)
        {
            throw S3Exception.InvalidRequest($"Found unsupported HTTP method in CORS config. Unsupported method is {method}");
        }

        var headers = Values("AllowedHeader");
        if (origins.Concat(headers).FirstOrDefault(v => v.Count(c => c == '*') > 1) is { } wild)
        {
            throw S3Exception.InvalidRequest($"\"{wild}\" can not have more than one wildcard.");
        }

        var expose = Values("ExposeHeader");
        if (expose.FirstOrDefault(h => h.Contains('*', StringComparison.Ordinal)) is { } exposeWild)
        {
            throw S3Exception.InvalidRequest($"ExposeHeader \"{exposeWild}\" contains wildcard. We currently do not support wildcard for ExposeHeader.");
        }

        int? maxAge = rule.ChildValue("MaxAgeSeconds") is { } ageText
            ? int.TryParse(ageText, NumberStyles.None, CultureInfo.InvariantCulture, out var age) ? age : throw S3Exception.MalformedXml("MaxAgeSeconds is a whole number of seconds.")
            : null;
        return new CorsRule(id, origins, methods, headers, expose, maxAge);
    }
}
