using System.Globalization;
using System.Text.Json;

namespace Storage.Gateway.Api.S3.Browsers;

/// <summary>
/// The policy document of a browser form upload (base64 JSON: an expiration and conditions), and its check against the
/// form: every condition must hold and every field must be named by one, as S3 requires, before anything is stored.
/// </summary>
public sealed class PostPolicy
{
    /// <summary>Fields no condition needs to name (S3's list): the signature and policy themselves, the file, and <c>x-ignore-*</c>.</summary>
    private static readonly string[] Exempt = ["policy", "x-amz-signature", "file"];

    private readonly List<(string Operator, string Field, string Value)> _matches;

    private PostPolicy(DateTimeOffset expiration, List<(string Operator, string Field, string Value)> matches, long? minLength, long? maxLength)
    {
        Expiration = expiration;
        _matches = matches;
        MinLength = minLength;
        MaxLength = maxLength;
    }

    public DateTimeOffset Expiration { get; }

    /// <summary>The file's smallest and largest allowed size (<c>content-length-range</c>), checked while it streams.</summary>
    public long? MinLength { get; }

    public long? MaxLength { get; }

    /// <exception cref="S3Exception">400 InvalidPolicyDocument.</exception>
    public static PostPolicy Parse(string base64)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(Convert.FromBase64String(base64), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw Invalid("the policy is base64 of a JSON document.");
        }

        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("expiration", out var expirationText) || expirationText.ValueKind != JsonValueKind.String
                || !DateTimeOffset.TryParse(expirationText.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var expiration))
            {
                throw Invalid("the policy needs an ISO 8601 expiration.");
            }

            if (!root.TryGetProperty("conditions", out var conditions) || conditions.ValueKind != JsonValueKind.Array)
            {
                throw Invalid("the policy needs a conditions array.");
            }

            var matches = new List<(string, string, string)>();
            long? min = null, max = null;
            foreach (var condition in conditions.EnumerateArray())
            {
                if (condition.ValueKind == JsonValueKind.Object)
                {
                    // {"field": "value"} is an exact match.
                    foreach (var property in condition.EnumerateObject())
                    {
                        matches.Add(("eq", property.Name.ToLowerInvariant(), Text(property.Value)));
                    }
                }
                else if (condition.ValueKind == JsonValueKind.Array && condition.GetArrayLength() == 3 && condition[0].ValueKind == JsonValueKind.String)
                {
                    var op = condition[0].GetString()!.ToLowerInvariant();
                    if (op == "content-length-range")
                    {
                        (min, max) = (Number(condition[1]), Number(condition[2]));
                        if (min > max)
                        {
                            throw Invalid("content-length-range's minimum exceeds its maximum.");
                        }
                    }
                    else if (op is "eq" or "starts-with" && Text(condition[1]) is ['$', .. var field])
                    {
                        matches.Add((op, field.ToLowerInvariant(), Text(condition[2])));
                    }
                    else
                    {
                        throw Invalid($"the condition operator '{op}' with its field is not eq, starts-with or content-length-range.");
                    }
                }
                else
                {
                    throw Invalid("each condition is an object or a three-element array.");
                }
            }

            return new PostPolicy(expiration, matches, min, max);
        }
    }

    /// <summary>Checks the form's fields (names lower-case; <c>bucket</c> and the resolved <c>key</c> included).</summary>
    /// <exception cref="S3Exception">403 AccessDenied "Invalid according to Policy", as S3 answers.</exception>
    public void Check(IReadOnlyDictionary<string, string> fields, DateTimeOffset now)
    {
        if (now > Expiration)
        {
            throw Refused("Policy expired.");
        }

        foreach (var (op, field, value) in _matches)
        {
            var actual = fields.GetValueOrDefault(field);
            var holds = op == "eq" ? actual == value : actual?.StartsWith(value, StringComparison.Ordinal) == true;
            if (!holds)
            {
                throw Refused($"Policy Condition failed: [\"{op}\", \"${field}\", \"{value}\"]");
            }
        }

        var extra = fields.Keys.Where(name => name != "bucket" && !Exempt.Contains(name) && !name.StartsWith("x-ignore-", StringComparison.Ordinal) && !_matches.Any(m => m.Field == name)).ToList();
        if (extra.Count > 0)
        {
            throw Refused($"Extra input fields: {string.Join(", ", extra)}");
        }
    }

    private static string Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Invalid("condition values are strings.");

    private static long Number(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) && number >= 0
            ? number
            : value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out number)
                ? number
                : throw Invalid("content-length-range takes two whole numbers.");

    private static S3Exception Invalid(string message) => new(400, "InvalidPolicyDocument", $"Invalid Policy: {message}");

    private static S3Exception Refused(string message) => S3Exception.AccessDenied($"Invalid according to Policy: {message}");
}

/// <summary>A form file's bytes, refused as they stream when they leave the policy's <c>content-length-range</c>.</summary>
public sealed class LengthRangeStream(Stream inner, long? min, long? max) : Objects.ReadOnlyStream
{
    private long _read;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        _read += read;
        if (_read > max)
        {
            throw new S3Exception(400, "EntityTooLarge", string.Create(CultureInfo.InvariantCulture, $"Your proposed upload exceeds the maximum allowed size of {max} bytes; nothing was stored."));
        }

        if (read == 0 && _read < min)
        {
            throw new S3Exception(400, "EntityTooSmall", string.Create(CultureInfo.InvariantCulture, $"Your proposed upload is smaller than the minimum allowed size of {min} bytes; nothing was stored."));
        }

        return read;
    }
}
