using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace DTrust.Server.Tests;

/// <summary>With a certificate configured, the gRPC listener speaks TLS (ALPN h2) and nothing in clear.</summary>
[Collection(TlsServerGroup.Name)]
public sealed class TlsTests(TlsServerFixture fixture)
{
    [Fact]
    public async Task Health_and_timestamp_work_over_tls_with_a_pinned_certificate()
    {
        using var client = DTrustClient.Connect(
            new Uri($"https://127.0.0.1:{fixture.Server.GrpcPort}"),
            new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(fixture.Certificate.RawData) },
                },
            });

        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync());
        var (token, _) = await client.TimestampDataAsync("over tls"u8.ToArray(), HashAlgorithmName.SHA256);
        Assert.True(token.VerifySignatureForData("over tls"u8, out _));
    }

    [Fact]
    public async Task Http_listener_with_tls_offers_http2_and_http1()
    {
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert is not null && cert.RawData.AsSpan().SequenceEqual(fixture.Certificate.RawData),
        };
        using var http = new HttpClient(handler);
        foreach (var version in new[] { System.Net.HttpVersion.Version20, System.Net.HttpVersion.Version11 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Server.HttpAddress, "/healthz"))
            {
                Version = version,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            using var response = await http.SendAsync(request);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
        }
    }

    [Fact]
    public async Task Cleartext_h2c_is_not_served_on_the_tls_port()
    {
        using var client = DTrustClient.Connect(new Uri($"http://127.0.0.1:{fixture.Server.GrpcPort}"));
        await Assert.ThrowsAsync<RpcException>(() => client.CheckHealthAsync());
    }
}

/// <summary>One server with a TLS certificate for every test of <see cref="TlsServerGroup"/>: each start makes tokens, a Redis and a host.</summary>
public sealed class TlsServerFixture : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-tls-").FullName;
    private ServerProcess? _server;

    public X509Certificate2 Certificate { get; private set; } = null!;

    /// <summary>The certificate as PEM: the trust anchor handed to peers that take a CA file.</summary>
    public string CertificatePath => Path.Combine(_dir, "tls.pem");

    public ServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);

        // gRPC peers (grpcio, grpc-js) check the name they were given; they are told "localhost".
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        Certificate = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = CertificatePath;
        var keyPath = Path.Combine(_dir, "tls.key");
        await File.WriteAllTextAsync(certPath, Certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
        _server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Listen__TlsCertificatePath"] = certPath,
            ["DTrust__Listen__TlsKeyPath"] = keyPath,
            ["DTrust__Listen__HttpTls"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Certificate?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class TlsServerGroup : ICollectionFixture<TlsServerFixture>
{
    public const string Name = "tls server";
}
