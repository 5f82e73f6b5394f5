using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Rpc;
using DTrust.Rpc.Client;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>With a certificate configured, the gRPC listener speaks TLS (ALPN h2) and nothing in clear.</summary>
public sealed class TlsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-tls-").FullName;
    private X509Certificate2 _cert = null!;
    private ServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        _cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(_dir, "tls.pem");
        var keyPath = Path.Combine(_dir, "tls.key");
        await File.WriteAllTextAsync(certPath, _cert.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
        _server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Listen__TlsCertificatePath"] = certPath,
            ["DTrust__Listen__TlsKeyPath"] = keyPath,
        });
    }

    [Fact]
    public async Task Health_and_timestamp_work_over_tls_with_a_pinned_certificate()
    {
        using var client = DTrustClient.Connect(
            new Uri($"https://127.0.0.1:{_server.GrpcPort}"),
            new GrpcChannelOptions { ServerCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(_cert.RawData) });

        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync());
        var (token, _) = await client.TimestampDataAsync("over tls"u8.ToArray(), HashAlgorithmName.SHA256);
        Assert.True(token.VerifySignatureForData("over tls"u8, out _));
    }

    [Fact]
    public async Task Cleartext_h2c_is_not_served_on_the_tls_port()
    {
        using var client = DTrustClient.Connect(new Uri($"http://127.0.0.1:{_server.GrpcPort}"));
        await Assert.ThrowsAsync<RpcException>(() => client.CheckHealthAsync());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _cert.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
