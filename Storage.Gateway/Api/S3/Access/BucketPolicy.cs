using System.Text.Json;

namespace Storage.Gateway.Api.S3.Access;

/// <summary>What a bucket policy says about one request.</summary>
public enum PolicyDecision
{
    /// <summary>No statement names the action on the resource: the key's grants decide.</summary>
    None,

    Allow,

    /// <summary>A statement denies it: refused whatever the key's grants (an explicit deny wins, as in S3).</summary>
    Deny,
}

/// <summary>One statement, its actions expanded from their wildcards; resources are ARN patterns without <c>arn:aws:s3:::</c>.</summary>
public sealed record PolicyStatement(bool Allow, IReadOnlySet<string> Actions, IReadOnlyList<string> Resources);

/// <summary>
/// The part of S3's bucket policy language this store can enforce: statements for every principal (<c>"*"</c>) that
/// allow anonymous reads (<see cref="S3Actions.PublicRead"/>) of the bucket or of keys matching a pattern, or that deny
/// any action on them. Everything else — other principals, conditions, <c>Not*</c> elements, allowing writes — is
/// refused with 501 when the policy is put, never stored and ignored: a policy that seems to restrict access must.
/// </summary>
public sealed class BucketPolicy
{
    /// <summary>S3's limit on a bucket policy's size.</summary>
    public const int MaxBytes = 20 * 1024;

    private const string ArnPrefix = "arn:aws:s3:::";

    private static readonly string[] UnenforceableElements = ["Condition", "NotAction", "NotResource", "NotPrincipal"];

    private static readonly string[] StatementElements = ["Sid", "Effect", "Principal", "Action", "Resource"];

    private BucketPolicy(string document, IReadOnlyList<PolicyStatement> statements)
    {
        Document = document;
        Statements = statements;
    }

    /// <summary>The policy as it was put (GetBucketPolicy answers it unchanged).</summary>
    public string Document { get; }

    public IReadOnlyList<PolicyStatement> Statements { get; }

    /// <summary>
    /// The decision for <paramref name="action"/> on <paramref name="resource"/> (<c>bucket</c> or <c>bucket/key</c>). An
    /// object-level action asked about the bucket (DeleteObjects before its keys are known) is decided per key instead.
    /// </summary>
    public PolicyDecision Evaluate(string action, string resource)
    {
        if (S3Actions.All.TryGetValue(action, out var objectLevel) && objectLevel != resource.Contains('/', StringComparison.Ordinal))
        {
            return PolicyDecision.None;
        }

        var decision = PolicyDecision.None;
        foreach (var statement in Statements)
        {
            if (statement.Actions.Contains(action) && statement.Resources.Any(pattern => Wildcards.Matches(pattern, resource)))
            {
                if (!statement.Allow)
                {
                    return PolicyDecision.Deny;
                }

                decision = PolicyDecision.Allow;
            }
        }

        return decision;
    }

    /// <summary>Checks a policy document for <paramref name="bucket"/> whole.</summary>
    /// <exception cref="S3Exception">400 MalformedPolicy for what S3 would refuse; 501 for what it would accept and this store cannot enforce.</exception>
    public static BucketPolicy Parse(string bucket, string document)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(document, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw Malformed($"Policies must be valid JSON: {ex.Message}");
        }

        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Malformed("A policy is a JSON object with a Statement.");
            }

            foreach (var property in root.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "Version" when property.Value.ValueKind == JsonValueKind.String && property.Value.GetString() is "2012-10-17" or "2008-10-17":
                    case "Id" when property.Value.ValueKind == JsonValueKind.String:
                    case "Statement":
                        break;
                    case "Version":
                        throw Malformed("The policy's Version must be \"2012-10-17\" (or \"2008-10-17\").");
                    default:
                        throw Malformed($"Unknown field {property.Name} in the policy.");
                }
            }

            if (!root.TryGetProperty("Statement", out var statements))
            {
                throw Malformed("Missing required field Statement.");
            }

            var parsed = (statements.ValueKind == JsonValueKind.Array ? statements.EnumerateArray().ToList() : [statements])
                .Select(statement => ParseStatement(bucket, statement))
                .ToList();
            return parsed.Count == 0 ? throw Malformed("The policy has no statements.") : new BucketPolicy(document, parsed);
        }
    }

    private static PolicyStatement ParseStatement(string bucket, JsonElement statement)
    {
        if (statement.ValueKind != JsonValueKind.Object)
        {
            throw Malformed("Each Statement is a JSON object.");
        }

        foreach (var property in statement.EnumerateObject())
        {
            if (UnenforceableElements.Contains(property.Name))
            {
                throw S3Exception.NotImplemented($"A policy statement's {property.Name} element");
            }

            if (!StatementElements.Contains(property.Name))
            {
                throw Malformed($"Unknown field {property.Name} in a statement.");
            }
        }

        var effect = Required(statement, "Effect");
        var allow = (effect.ValueKind == JsonValueKind.String ? effect.GetString() : null) switch
        {
            "Allow" => true,
            "Deny" => false,
            _ => throw Malformed("A statement's Effect must be Allow or Deny."),
        };
        if (!IsEveryone(Required(statement, "Principal")))
        {
            throw S3Exception.NotImplemented("A policy principal other than \"*\" (give access keys their access with Storage:S3:Credentials grants)");
        }

        var actions = Strings(statement, "Action").SelectMany(Expand).ToHashSet(StringComparer.Ordinal);
        if (allow && actions.FirstOrDefault(a => !S3Actions.PublicRead.Contains(a)) is { } write)
        {
            throw S3Exception.NotImplemented(
                $"Allowing everyone {write} (a policy may allow anonymous reads only: {string.Join(", ", S3Actions.PublicRead)}; give keys more with grants)");
        }

        var resources = Strings(statement, "Resource").Select(resource => ResourcePattern(bucket, resource)).ToList();
        if (!actions.Any(action => resources.Any(resource => resource.Contains('/', StringComparison.Ordinal) == S3Actions.All[action])))
        {
            throw Malformed("Action does not apply to any resource(s) in statement.");
        }

        return new PolicyStatement(allow, actions, resources);
    }

    private static bool IsEveryone(JsonElement principal) => principal.ValueKind switch
    {
        JsonValueKind.String => principal.GetString() == "*",
        JsonValueKind.Object => principal.EnumerateObject().All(p => p.Name == "AWS" && StringsOf(p.Value, "Principal").All(v => v == "*"))
            && principal.EnumerateObject().Any(),
        _ => false,
    };

    /// <summary>An action with IAM's wildcards names every action it matches (case-insensitively, as IAM does).</summary>
    private static IEnumerable<string> Expand(string action)
    {
        if (action == "*")
        {
            return S3Actions.All.Keys;
        }

        var matched = S3Actions.All.Keys.Where(known => Wildcards.Matches(action, known, ignoreCase: true)).ToList();
        return matched.Count > 0 ? matched : throw Malformed($"Policy has invalid action: {action}");
    }

    private static string ResourcePattern(string bucket, string resource)
    {
        if (!resource.StartsWith(ArnPrefix, StringComparison.Ordinal))
        {
            throw Malformed($"Policy has invalid resource: {resource} (an S3 ARN, {ArnPrefix}{bucket} or {ArnPrefix}{bucket}/<key pattern>)");
        }

        var pattern = resource[ArnPrefix.Length..];
        var slash = pattern.IndexOf('/', StringComparison.Ordinal);
        return (slash < 0 ? pattern : pattern[..slash]) == bucket
            ? pattern
            : throw Malformed($"Policy has invalid resource: {resource} (a bucket's policy names that bucket, {bucket}, and its keys)");
    }

    private static JsonElement Required(JsonElement statement, string name) =>
        statement.TryGetProperty(name, out var value) ? value : throw Malformed($"Missing required field {name} in a statement.");

    private static List<string> Strings(JsonElement statement, string name) => StringsOf(Required(statement, name), name);

    private static List<string> StringsOf(JsonElement value, string name)
    {
        var items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToList() : [value];
        return items.Count > 0 && items.All(item => item.ValueKind == JsonValueKind.String && item.GetString()!.Length > 0)
            ? [.. items.Select(item => item.GetString()!)]
            : throw Malformed($"{name} is a string or a list of strings.");
    }

    private static S3Exception Malformed(string message) => new(400, "MalformedPolicy", message);
}
