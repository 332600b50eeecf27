using System.Text;
using System.Text.RegularExpressions;

namespace Storage.Gateway.Api;

/// <summary>
/// Header values that are stored and later sent back. HTTP/1.1 response headers carry ASCII only (Kestrel refuses
/// anything else), while requests arrive decoded from UTF-8: a value is checked when it is stored, never found broken
/// when it is returned. Non-ASCII text travels as RFC 2047 encoded words, as S3 does for user metadata.
/// </summary>
public static partial class HeaderValues
{
    [GeneratedRegex(@"=\?(?<charset>[A-Za-z0-9_\-]+)\?(?<encoding>[BbQq])\?(?<text>[^?\s]*)\?=")]
    private static partial Regex EncodedWord();

    /// <summary>Printable ASCII and tab: what can be sent back exactly as it came.</summary>
    public static bool IsPlainAscii(string value) => value.All(c => c is '\t' or >= ' ' and <= '~');

    /// <summary>No control characters (tab aside): text that can be stored and returned, encoded if need be.</summary>
    public static bool IsText(string value) => !value.Any(c => char.IsControl(c) && c != '\t');

    [GeneratedRegex(@"(?<=\?=)[ \t]+(?==\?)")]
    private static partial Regex SpaceBetweenWords();

    /// <summary>
    /// The value with RFC 2047 encoded words (UTF-8 or ISO-8859-1, B or Q) decoded, the white space between adjacent
    /// words dropped (§6.2); anything malformed stays as sent.
    /// </summary>
    public static string DecodeWords(string value) => !value.Contains("=?", StringComparison.Ordinal) ? value : EncodedWord().Replace(SpaceBetweenWords().Replace(value, string.Empty), word =>
    {
        var encoding = word.Groups["charset"].Value.ToUpperInvariant() switch
        {
            "UTF-8" => Encoding.UTF8,
            "ISO-8859-1" or "LATIN1" => Encoding.Latin1,
            "US-ASCII" => Encoding.ASCII,
            _ => null,
        };
        var text = word.Groups["text"].Value;
        if (encoding is null)
        {
            return word.Value;
        }

        if (word.Groups["encoding"].Value is "B" or "b")
        {
            var bytes = new byte[text.Length];
            return Convert.TryFromBase64String(text, bytes, out var written) ? encoding.GetString(bytes, 0, written) : word.Value;
        }

        return QuotedPrintable(text, encoding) ?? word.Value;
    });

    /// <summary>The value as a response header can carry it: unchanged when plain ASCII, else one UTF-8 B encoded word.</summary>
    public static string EncodeWords(string value) =>
        IsPlainAscii(value) ? value : $"=?UTF-8?B?{Convert.ToBase64String(Encoding.UTF8.GetBytes(value))}?=";

    private static string? QuotedPrintable(string text, Encoding encoding)
    {
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '_':
                    bytes.Add((byte)' ');
                    break;
                case '=' when i + 2 < text.Length && byte.TryParse(text.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var b):
                    bytes.Add(b);
                    i += 2;
                    break;
                case '=':
                    return null;
                case var c when c <= '~':
                    bytes.Add((byte)c);
                    break;
                default:
                    return null;
            }
        }

        return encoding.GetString([.. bytes]);
    }
}
