using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace Storage.Gateway.Api.S3;

/// <summary>S3's XML: response documents in its namespace, request documents read with limits and no DTDs.</summary>
public static class S3Xml
{
    public static readonly XNamespace Ns = "http://s3.amazonaws.com/doc/2006-03-01/";

    /// <summary>Keys and prefixes may hold characters XML 1.0 cannot carry (U+0001): written as character references, as S3 does, not refused.</summary>
    private static readonly XmlWriterSettings WriterSettings = new() { Async = true, Encoding = new System.Text.UTF8Encoding(false), Indent = false, CheckCharacters = false };

    public static XElement Element(string name, params object?[] content) => new(Ns + name, content);

    /// <summary>S3's timestamp format (ISO 8601, milliseconds, UTC).</summary>
    public static string Timestamp(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static XElement Owner(string id) => Element("Owner", Element("ID", id), Element("DisplayName", id));

    public static async Task WriteAsync(HttpResponse response, XElement root, CancellationToken cancellationToken, int status = StatusCodes.Status200OK)
    {
        response.StatusCode = status;
        response.ContentType = "application/xml";
        await using var writer = XmlWriter.Create(response.Body, WriterSettings);
        await new XDocument(new XDeclaration("1.0", "UTF-8", null), root).SaveAsync(writer, cancellationToken);
    }

    /// <summary>Reads a request document of at most <paramref name="maxBytes"/>; anything malformed is MalformedXML.</summary>
    public static async Task<XElement> ReadAsync(Stream body, int maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = await ReadDocumentAsync(body, maxBytes, cancellationToken);
        try
        {
            using var reader = XmlReader.Create(buffer, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, Async = true });
            return (await XDocument.LoadAsync(reader, LoadOptions.None, cancellationToken)).Root ?? throw S3Exception.MalformedXml("the document is empty.");
        }
        catch (XmlException ex)
        {
            throw S3Exception.MalformedXml(ex.Message);
        }
    }

    /// <summary>A request document's bytes, at most <paramref name="maxBytes"/> of them (S3's MaxMessageLengthExceeded otherwise).</summary>
    public static async Task<MemoryStream> ReadDocumentAsync(Stream body, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                await buffer.DisposeAsync();
                throw new S3Exception(400, "MaxMessageLengthExceeded", $"The request document is larger than {maxBytes} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        buffer.Position = 0;
        return buffer;
    }

    /// <summary>Child elements by local name, whatever namespace the client used (some send none).</summary>
    public static IEnumerable<XElement> Children(this XElement element, string name) => element.Elements().Where(e => e.Name.LocalName == name);

    public static string? ChildValue(this XElement element, string name) => element.Children(name).FirstOrDefault()?.Value;

    /// <summary>The error document every failed S3 request gets.</summary>
    public static XElement Error(S3Exception error, S3Context context) =>
        new("Error",
            new XElement("Code", error.Code),
            new XElement("Message", error.Message),
            new XElement("Resource", context.Resource),
            new XElement("RequestId", context.RequestId));
}
