using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Rpc.Client;
using DTrust.Rpc.Health;
using DTrust.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace DTrust.Rpc.Tests;

/// <summary>
/// The test service on a real Kestrel at 127.0.0.1: one h2c listener (HTTP/2 only) and one TLS listener (ALPN, HTTP/1.1
/// allowed so the 426 answer can be checked) with a self-signed certificate for localhost and 127.0.0.1.
/// </summary>
public sealed class RpcServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public TestServiceHandlers Service { get; } = new();

    public LogCapture Log { get; } = new();

    public X509Certificate2 ServerCertificate { get; } = MakeCertificate("CN=localhost", server: true);

    public X509Certificate2 ClientCertificate { get; } = MakeCertificate("CN=dtrust-test-partner", server: false);

    public string CaPemPath { get; } = Path.Combine(Path.GetTempPath(), "dtrust-rpc-ca-" + Guid.NewGuid().ToString("N")[..8] + ".pem");

    public int H2cPort { get; } = RedisServer.FreePort();

    public int TlsPort { get; } = RedisServer.FreePort();

    public Uri H2cAddress => new($"http://127.0.0.1:{H2cPort}");

    public Uri TlsAddress => new($"https://127.0.0.1:{TlsPort}");

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(CaPemPath, ServerCertificate.ExportCertificatePem());
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(Log);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, H2cPort, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, TlsPort, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = ServerCertificate,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,

                    // Who the partner is gets decided by the host, not by the transport under test.
                    ClientCertificateValidation = (_, _, _) => true,
                });
            });
        });
        builder.Services.AddGrpcTransport(o => o.ExceptionMapper = ex => ex is KeyNotFoundException k
            ? new RpcStatus(StatusCode.NotFound, "mapped: " + k.Message)
            : null);
        _app = builder.Build();
        _app.MapGrpcService(Service.Definition);
        _app.MapGrpcHealthService();
        var health = _app.Services.GetRequiredService<HealthService>();
        _app.Lifetime.ApplicationStarted.Register(() => health.SetStatus(HealthService.Server, ServingStatus.Serving));
        await _app.StartAsync();
    }

    public GrpcChannel H2cChannel(GrpcChannelOptions? options = null) => GrpcChannel.ForAddress(H2cAddress, options);

    public GrpcChannel TlsChannel(X509Certificate2? clientCertificate = null) => GrpcChannel.ForAddress(TlsAddress, new GrpcChannelOptions
    {
        ClientCertificate = clientCertificate,
        ServerCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == ServerCertificate.GetCertHashString(),
    });

    public HealthService Health => _app!.Services.GetRequiredService<HealthService>();

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        File.Delete(CaPemPath);
        ServerCertificate.Dispose();
        ClientCertificate.Dispose();
    }

    private static X509Certificate2 MakeCertificate(string subject, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }

        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        // A PKCS#12 round trip gives a certificate whose key SslStream can use on every platform.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }
}

[CollectionDefinition(Name)]
public sealed class RpcServerGroup : ICollectionFixture<RpcServerFixture>
{
    public const string Name = "rpc server";
}
