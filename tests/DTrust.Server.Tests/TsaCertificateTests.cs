using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// The TSA certificate outside the dev PKI: production certifies the CSR the server exports and configures the
/// result; a certificate for another key is refused at start-up; an RSA TSA key signs with RSA-PSS.
/// </summary>
public sealed class TsaCertificateTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "dtrust-prod-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-prodca-").FullName;

    [Fact]
    public async Task Certificate_issued_elsewhere_for_the_exported_csr_is_used_and_a_foreign_one_refused()
    {
        // First start (development) makes the tokens, the TSA key and pki/tsa.csr.pem.
        await using (await ServerProcess.StartAsync(stateDir: _state))
        {
        }

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Test Issuing CA, O=Elsewhere", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        var csr = CertificateRequest.LoadSigningRequestPem(
            await File.ReadAllTextAsync(Path.Combine(_state, "pki", "tsa.csr.pem")),
            HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        using var issued = csr.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(2), [0x11, 0x22, 0x33, 0x44]);
        var certPath = Path.Combine(_dir, "tsa-issued.pem");
        var chainPath = Path.Combine(_dir, "ca.pem");
        await File.WriteAllTextAsync(certPath, issued.ExportCertificatePem());
        await File.WriteAllTextAsync(chainPath, ca.ExportCertificatePem());

        // Production also needs the issuing CAs of every level (seals too) certified for the CSRs the server exported.
        foreach (var level in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced" })
        {
            var levelCsr = CertificateRequest.LoadSigningRequestPem(
                await File.ReadAllTextAsync(Path.Combine(_state, "pki", $"ca-{level}.csr.pem")),
                HashAlgorithmName.SHA384,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            using var levelCa = levelCsr.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(4), RandomNumberGenerator.GetBytes(12));
            await File.WriteAllTextAsync(Path.Combine(_dir, $"ca-{level}.pem"), levelCa.ExportCertificatePem());
        }

        await using (var server = await ServerProcess.StartAsync(Production(certPath, chainPath), _state))
        {
            var data = Path.Combine(_dir, "doc.txt");
            await File.WriteAllTextAsync(data, "insurance claim 7");
            var query = Path.Combine(_dir, "req.tsq");
            var reply = Path.Combine(_dir, "resp.tsr");
            (await ProcessRunner.RunAsync("openssl", ["ts", "-query", "-data", data, "-sha256", "-cert", "-out", query])).EnsureSuccess("query");
            using var http = new HttpClient();
            using var body = new ByteArrayContent(await File.ReadAllBytesAsync(query));
            body.Headers.ContentType = new("application/timestamp-query");
            using var response = await http.PostAsync(new Uri(server.HttpAddress, "/tsa"), body);
            await File.WriteAllBytesAsync(reply, await response.Content.ReadAsByteArrayAsync());

            // Trusting only the outside CA (not the dev root) proves the token is signed under the issued certificate.
            var verify = await ProcessRunner.RunAsync("openssl", ["ts", "-verify", "-data", data, "-in", reply, "-CAfile", chainPath, "-untrusted", certPath]);
            Assert.Contains("Verification: OK", verify.StdOut, StringComparison.Ordinal);
        }

        // A certificate for a key that is not in the HSM must never be served.
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var foreign = new CertificateRequest("CN=Someone else", otherKey, HashAlgorithmName.SHA256);
        using var foreignCert = foreign.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1), [0x55, 0x66]);
        var foreignPath = Path.Combine(_dir, "foreign.pem");
        await File.WriteAllTextAsync(foreignPath, foreignCert.ExportCertificatePem());
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(Production(foreignPath, chainPath), _state));
        Assert.Contains("does not match the key in the HSM", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rsa_tsa_key_signs_tokens_with_pss()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["DTrust__Tsa__KeyAlgorithm"] = "Rsa2048" });
        using var client = DTrustClient.Connect(server.GrpcAddress);
        var (token, _) = await client.TimestampDataAsync("rsa please"u8.ToArray(), HashAlgorithmName.SHA256);

        Assert.True(token.VerifySignatureForData("rsa please"u8, out var signer));
        Assert.NotNull(signer!.GetRSAPublicKey());
        var signerInfo = token.AsSignedCms().SignerInfos[0];
        Assert.Equal("1.2.840.113549.1.1.10", signerInfo.SignatureAlgorithm.Value); // id-RSASSA-PSS
    }

    private Dictionary<string, string> Production(string certPath, string chainPath)
    {
        var env = new Dictionary<string, string>
        {
            ["DTrust__Development"] = "false",
            ["DTrust__Tsa__CertificatePath"] = certPath,
            ["DTrust__Tsa__ChainPath"] = chainPath,

            // Production has no outbox: codes go to an SMS gateway (never called here: nothing is signed).
            ["DTrust__Signing__OtpSender"] = "webhook",
            ["DTrust__Signing__Webhook__Url"] = "https://sms-gateway.invalid/send",
        };
        foreach (var level in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced" })
        {
            env[$"DTrust__Pki__Levels__{level}__CaCertificatePath"] = Path.Combine(_dir, $"ca-{level}.pem");
            env[$"DTrust__Pki__Levels__{level}__ChainPath"] = chainPath;
        }

        return env;
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }
}
