using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Security;

namespace Storage.Benchmarks;

/// <summary>The per-request CPU cost of verifying a SigV4 Authorization header, beside signing one (the client's share).</summary>
[MemoryDiagnoser]
public class SignatureBenchmarks
{
    private const string AccessKey = "AKIDBENCH";
    private const string Secret = "bench-secret";

    private readonly SignatureVerifier _verifier;
    private readonly DefaultHttpContext _context = new();
    private readonly string _path = "/objects/some/key.bin";

    public SignatureBenchmarks()
    {
        var options = Options.Create(new StorageOptions { S3 = new S3Options { Credentials = [new S3Credential { AccessKey = AccessKey, SecretKey = Secret, Administrator = true }] } });
        _verifier = new SignatureVerifier(new S3Credentials(options, NullLogger<S3Credentials>.Instance), options, TimeProvider.System);
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:3000" + _path);
        SigV4.Sign(request, AccessKey, Secret, "us-east-1", DateTimeOffset.UtcNow);
        _context.Request.Method = "GET";
        _context.Request.Host = new HostString("127.0.0.1:3000");
        foreach (var header in request.Headers)
        {
            _context.Request.Headers[header.Key] = header.Value.ToArray();
        }
    }

    [Benchmark(Baseline = true)]
    public void Sign()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:3000" + _path);
        SigV4.Sign(request, AccessKey, Secret, "us-east-1", DateTimeOffset.UtcNow);
    }

    [Benchmark]
    public SigningContext? Verify() => _verifier.Verify(_context.Request, _path, string.Empty);
}
