using System.Security.Cryptography.X509Certificates;
using DTrust.Pki;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace DTrust.Pki.Tests;

/// <summary>Issuing CAs and responders: one per level, keys in the level's token, checked against the HSM at start.</summary>
[Collection(PkiGroup.Name)]
public sealed class IssuingCaSetupTests(PkiFixture pki)
{
    [Fact]
    public void Each_level_signs_with_a_ca_and_responder_key_of_its_own_token()
    {
        var spkis = new List<byte[]>();
        foreach (var level in PkiLevels.All)
        {
            var name = PkiLevels.Name(level);
            var ca = pki.Cas[level];
            var caKey = pki.Vault.Domain(name).GetSigningKey("dtrust-ca");
            var ocspKey = pki.Vault.Domain(name).GetSigningKey("dtrust-ocsp");
            Assert.Equal(name, ca.Key.Domain);
            Assert.Equal(caKey.SubjectPublicKeyInfo, ca.Certificate.PublicKey.ExportSubjectPublicKeyInfo());
            Assert.Equal(ocspKey.SubjectPublicKeyInfo, ca.OcspCertificate.PublicKey.ExportSubjectPublicKeyInfo());
            spkis.Add(caKey.SubjectPublicKeyInfo);
            spkis.Add(ocspKey.SubjectPublicKeyInfo);
        }

        Assert.Equal(spkis.Count, spkis.Select(Convert.ToHexString).Distinct().Count());
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("advanced")]
    [InlineData("qualified")]
    public async Task Ca_and_responder_certificates_have_their_profiles_and_verify(string name)
    {
        var ca = await OpenSsl.RunAsync("x509", "-in", pki.Pem($"ca-{name}.pem"), "-noout", "-text");
        Assert.Contains("CA:TRUE, pathlen:0", ca, StringComparison.Ordinal);
        Assert.Matches(@"X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign", ca);
        Assert.Contains("X509v3 Subject Key Identifier", ca, StringComparison.Ordinal);
        Assert.Contains("X509v3 Authority Key Identifier", ca, StringComparison.Ordinal);
        Assert.Contains("ecdsa-with-SHA384", ca, StringComparison.Ordinal);

        var ocsp = await OpenSsl.RunAsync("x509", "-in", pki.Pem($"ocsp-{name}.pem"), "-noout", "-text");
        Assert.Contains("OCSP Signing", ocsp, StringComparison.Ordinal);
        Assert.Contains("OCSP No Check", ocsp, StringComparison.Ordinal);
        Assert.Matches(@"X509v3 Key Usage: critical\s+Digital Signature\s*\n", ocsp);

        Assert.Contains(": OK", await OpenSsl.RunAsync("verify", "-x509_strict", "-CAfile", pki.Pem("root.pem"), pki.Pem($"ca-{name}.pem")), StringComparison.Ordinal);
        Assert.Contains(": OK", await OpenSsl.RunAsync(
            "verify", "-purpose", "ocsphelper", "-CAfile", pki.Pem("root.pem"), "-untrusted", pki.Pem($"ca-{name}.pem"), pki.Pem($"ocsp-{name}.pem")), StringComparison.Ordinal);

        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(pki.Pem($"chain-{name}.pem"));
        Assert.Equal(2, chain.Count);
        Assert.True(File.Exists(pki.Pem($"ca-{name}.csr.pem")));
        Assert.True(File.Exists(pki.Pem($"ocsp-{name}.csr.pem")));
        Assert.Contains("verify OK", await OpenSsl.RunAsync("req", "-in", pki.Pem($"ca-{name}.csr.pem"), "-noout", "-verify"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_second_start_reuses_the_certificates()
    {
        var again = NewPki(pki.Server).EnsureIssuingCas(pki.Options);
        foreach (var level in PkiLevels.All)
        {
            Assert.Equal(pki.Cas[level].Certificate.Thumbprint, again[level].Certificate.Thumbprint);
            Assert.Equal(pki.Cas[level].OcspCertificate.Thumbprint, again[level].OcspCertificate.Thumbprint);
        }
    }

    [Fact]
    public void Production_loads_the_configured_certificates()
    {
        var cas = NewPki(Production()).EnsureIssuingCas(Configured());
        foreach (var level in PkiLevels.All)
        {
            Assert.Equal(pki.Cas[level].Certificate.Thumbprint, cas[level].Certificate.Thumbprint);
        }
    }

    [Fact]
    public void Production_refuses_a_ca_certificate_for_a_foreign_key()
    {
        var options = Configured();
        options.Levels["qualified"].CaCertificatePath = pki.Pem("ca-advanced.pem");
        var e = Assert.Throws<InvalidOperationException>(() => NewPki(Production()).EnsureIssuingCas(options));
        Assert.Contains("qualified CA certificate", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not match the key in the HSM", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Production_refuses_a_responder_certificate_for_a_foreign_key_or_issuer()
    {
        var options = Configured();
        options.Levels["advanced"].OcspCertificatePath = pki.Pem("ocsp-simple.pem");
        var e = Assert.Throws<InvalidOperationException>(() => NewPki(Production()).EnsureIssuingCas(options));
        Assert.Contains("advanced OCSP responder certificate", e.Message, StringComparison.Ordinal);

        // A certificate that is not a CA at all (the responder's own) for the CA's place.
        options = Configured();
        options.Levels["simple"].CaCertificatePath = pki.Pem("ocsp-simple.pem");
        Assert.Throws<InvalidOperationException>(() => NewPki(Production()).EnsureIssuingCas(options));
    }

    [Fact]
    public void Production_without_certificates_refuses_to_start_and_exports_csrs()
    {
        var server = Production();
        var e = Assert.Throws<InvalidOperationException>(() => NewPki(server).EnsureIssuingCas(new PkiOptions()));
        // One start names every level without a certificate and leaves every CSR.
        Assert.Contains("No CA certificate configured for simple, advanced, qualified, seal-qualified, seal-advanced", e.Message, StringComparison.Ordinal);
        foreach (var level in PkiFixture.Levels)
        {
            Assert.True(File.Exists(Path.Combine(server.StateDirectory, "pki", $"ca-{level}.csr.pem")), level);
            Assert.True(File.Exists(Path.Combine(server.StateDirectory, "pki", $"ocsp-{level}.csr.pem")), level);
        }
    }

    [Fact]
    public async Task A_ca_certificate_replaced_on_disk_by_a_foreign_one_is_reissued_in_development()
    {
        var server = new ServerOptions { StateDirectory = Path.Combine(pki.Server.StateDirectory, "dev-" + Guid.NewGuid().ToString("N")[..8]), Development = true };
        Directory.CreateDirectory(Path.Combine(server.StateDirectory, "pki"));
        File.Copy(pki.Pem("ca-advanced.pem"), Path.Combine(server.StateDirectory, "pki", "ca-qualified.pem"));
        var cas = NewPki(server).EnsureIssuingCas(new PkiOptions());
        Assert.Equal(
            pki.Vault.Domain("qualified").GetSigningKey("dtrust-ca").SubjectPublicKeyInfo,
            cas[CredentialLevel.Qualified].Certificate.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Contains(": OK", await OpenSsl.RunAsync(
            "verify", "-CAfile", Path.Combine(server.StateDirectory, "pki", "root.pem"), Path.Combine(server.StateDirectory, "pki", "ca-qualified.pem")), StringComparison.Ordinal);
    }

    private DevPki NewPki(ServerOptions server) =>
        new(pki.Vault, new PkiSetup(Path.Combine(server.StateDirectory, "pki"), server.Development), TimeProvider.System, NullLogger<DevPki>.Instance);

    private ServerOptions Production() => new()
    {
        StateDirectory = Path.Combine(pki.Server.StateDirectory, "prod-" + Guid.NewGuid().ToString("N")[..8]),
        Development = false,
    };

    private PkiOptions Configured() => new()
    {
        Levels = PkiFixture.Levels.ToDictionary(n => n, n => new IssuingCaCertificates
        {
            CaCertificatePath = pki.Pem($"ca-{n}.pem"),
            OcspCertificatePath = pki.Pem($"ocsp-{n}.pem"),
            ChainPath = pki.Pem("root.pem"),
        }),
    };
}
