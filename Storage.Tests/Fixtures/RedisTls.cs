using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Storage.Tests.Fixtures;

/// <summary>A private CA and a server certificate for localhost/127.0.0.1 signed by it, as PEM files for redis-server.</summary>
public sealed class RedisTls : IDisposable
{
    private readonly TempDirectory _folder = new("redis-tls");

    public RedisTls()
    {
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = notBefore.AddDays(1);
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=storage-tests-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter.AddHours(1));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, notBefore, notAfter, [1, 2, 3, 4]);

        File.WriteAllText(CaPath, ca.ExportCertificatePem());
        File.WriteAllText(CertificatePath, server.ExportCertificatePem());
        File.WriteAllText(KeyPath, serverKey.ExportPkcs8PrivateKeyPem());
    }

    public string CaPath => Path.Combine(_folder.Path, "ca.pem");

    public string CertificatePath => Path.Combine(_folder.Path, "server.pem");

    public string KeyPath => Path.Combine(_folder.Path, "server.key");

    public void Dispose() => _folder.Dispose();
}
