using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Api.Http;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using DTrust.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DTrust.Pki.Tests;

/// <summary>
/// One dev PKI for the run: real SoftHSM tokens (simple, advanced, qualified, root), the services made by
/// <see cref="PkiServiceCollectionExtensions.AddPki"/> in a minimal WebApplication on a free loopback port, and an
/// in-memory credential store. Certificates point at that port, so openssl can follow their URLs.
/// </summary>
public sealed class PkiFixture : IAsyncLifetime
{
    public static readonly string[] Levels = ["simple", "advanced", "qualified", "seal-qualified", "seal-advanced"];

    private static readonly byte[] CredentialPin = "135790"u8.ToArray();

    private WebApplication? _app;

    public HsmVault Vault { get; private set; } = null!;

    public ServerOptions Server { get; } = new()
    {
        StateDirectory = Path.Combine(Path.GetTempPath(), "dtrust-pki-" + Guid.NewGuid().ToString("N")[..12]),
        Development = true,
    };

    public PkiOptions Options { get; private set; } = null!;

    public string PkiDir => Path.Combine(Server.StateDirectory, "pki");

    public string BaseUrl => Options.PublicBaseUrl;

    public IssuingCas Cas { get; private set; } = null!;

    public CertificateIssuer Issuer { get; private set; } = null!;

    public CrlPublisher Crls { get; private set; } = null!;

    public OcspResponder Ocsp { get; private set; } = null!;

    internal InMemoryCredentialStore Store { get; } = new();

    public HttpClient Http { get; } = new();

    public async Task InitializeAsync()
    {
        var hsm = SoftHsmEnvironment.Shared;
        Vault = HsmVault.Open(new KeyVaultOptions
        {
            ModulePath = SoftHsmEnvironment.ModulePath,
            Domains = [.. Levels.Append("root").Select(n => new KeyDomainOptions { Name = n, TokenLabel = n, PinFile = hsm.PinFile(n), Sessions = 2 })],
        });
        foreach (var level in Levels)
        {
            Vault.Domain(level).EnsureMasterKey();
        }

        var port = FreePort();
        Options = new PkiOptions { PublicBaseUrl = $"http://127.0.0.1:{port}" };

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.Services.AddSingleton(Vault);
        builder.Services.AddSingleton(Server);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IRevocationSource>(Store);
        builder.Services.AddSingleton<ICrlStore>(new InMemoryCrlStore());
        builder.Services.AddPki(Options, new PkiSetup(PkiDir, Server.Development));
        builder.Services.AddPublicRateLimit(Options.RateLimit);
        _app = builder.Build();
        _app.UseRouting();
        _app.UseRateLimiter();
        _app.MapPkiEndpoints(new ListenerPort("http", port));
        await _app.StartAsync();

        Cas = _app.Services.GetRequiredService<IssuingCas>();
        Issuer = _app.Services.GetRequiredService<CertificateIssuer>();
        Crls = _app.Services.GetRequiredService<CrlPublisher>();
        Ocsp = _app.Services.GetRequiredService<OcspResponder>();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        Http.Dispose();
        Vault.Dispose();
        Directory.Delete(Server.StateDirectory, recursive: true);
    }

    public static CertificateHolder Holder => new()
    {
        GivenName = "Erika",
        Surname = "Mustermann",
        Country = "DE",
        Organisation = "Musterfirma GmbH",
        Function = "Prokuristin",
        UniqueId = "PNODE-1234567890",
    };

    /// <summary>A credential key made by the vault (the production path), certified and stored VALID.</summary>
    public async Task<(X509Certificate2 Certificate, CredentialRecord Record)> IssueAsync(
        CredentialLevel level, KeyAlgorithm algorithm = KeyAlgorithm.EcP256, CertificateHolder? holder = null)
    {
        var key = await Vault.Domain(PkiLevels.Name(level)).CreateCredentialKeyAsync(algorithm, CredentialPin, CancellationToken.None);
        var cert = await Issuer.IssueAsync(level, holder ?? Holder, key.SubjectPublicKeyInfo, algorithm, CancellationToken.None);
        var now = DateTimeOffset.UtcNow;
        var record = new CredentialRecord
        {
            Id = Guid.NewGuid().ToString("N"),
            Tenant = "dev",
            UserId = "erika",
            Level = level,
            Algorithm = algorithm,
            Status = CredentialStatus.Valid,
            Certificate = cert.RawData,
            SerialHex = cert.SerialNumber,
            NotAfter = cert.NotAfter.ToUniversalTime(),
            Key = key,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        Store.Put(record);
        return (cert, record);
    }

    /// <summary>As the registry revokes: the store records it, then the OCSP responder is told.</summary>
    public CredentialRecord Revoke(CredentialRecord record, int reason, CredentialStatus status = CredentialStatus.Revoked)
    {
        var revoked = record with
        {
            Status = status,
            RevocationReason = reason,
            RevokedAt = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds()),
            Version = record.Version + 1,
        };
        Store.Put(revoked);
        Ocsp.RevocationRecorded();
        return revoked;
    }

    /// <summary>Writes a certificate (or any PEM text) to a fresh file under the state directory.</summary>
    public string Write(X509Certificate2 cert) => Write(cert.ExportCertificatePem() + "\n", ".pem");

    public string Write(string text, string extension)
    {
        var path = Path.Combine(Server.StateDirectory, Guid.NewGuid().ToString("N")[..10] + extension);
        File.WriteAllText(path, text);
        return path;
    }

    public string Pem(string name) => Path.Combine(PkiDir, name);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[CollectionDefinition(Name)]
public sealed class PkiGroup : ICollectionFixture<PkiFixture>
{
    public const string Name = "pki";
}
