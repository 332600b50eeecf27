using System.Text;

namespace Storage.Gateway.Api.S3;

/// <summary>The opaque continuation tokens of S3 listings: the last name returned, base64 of its UTF-8.</summary>
public static class ContinuationToken
{
    public static string Encode(string last) => Convert.ToBase64String(Encoding.UTF8.GetBytes(last));

    public static string Decode(string token)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(token));
        }
        catch (FormatException)
        {
            throw S3Exception.InvalidArgument("The continuation token provided is incorrect.");
        }
    }
}
