using System.Globalization;
using System.Text.RegularExpressions;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Errors;
using DTrust.Store;

namespace DTrust.Pki.Tests;

/// <summary>End-entity profiles as openssl reads them, and chains openssl verifies.</summary>
[Collection(PkiGroup.Name)]
public sealed partial class CertificateProfileTests(PkiFixture pki)
{
    [Fact]
    public async Task Qualified_certificate_has_qc_statements_policies_and_critical_non_repudiation_only()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var path = pki.Write(cert);
        var text = await OpenSsl.RunAsync("x509", "-in", path, "-noout", "-text");

        Assert.Contains("qcStatements", text, StringComparison.Ordinal);
        Assert.Contains("Policy: 0.4.0.194112.1.2", text, StringComparison.Ordinal);
        Assert.Contains("Policy: " + PkiOids.QualifiedPolicy, text, StringComparison.Ordinal);
        Assert.Matches(@"X509v3 Key Usage: critical\s+Non Repudiation\s*\n", text);
        Assert.DoesNotContain("Digital Signature", text, StringComparison.Ordinal);

        // The statements themselves, decoded by openssl from the extension's OCTET STRING.
        var statements = await QcStatementsAsync(path);
        Assert.Contains(":0.4.0.1862.1.1", statements, StringComparison.Ordinal);
        Assert.Contains(":0.4.0.1862.1.4", statements, StringComparison.Ordinal);
        Assert.Contains(":0.4.0.1862.1.6", statements, StringComparison.Ordinal);
        Assert.Contains(":0.4.0.1862.1.6.1", statements, StringComparison.Ordinal);

        var years = await ValidityYearsAsync(path);
        Assert.InRange(years, 4.99, 5.01);
    }

    [Fact]
    public async Task Advanced_certificate_is_valid_ten_years_with_digital_signature_and_non_repudiation()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Advanced, KeyAlgorithm.Rsa2048);
        var path = pki.Write(cert);
        var text = await OpenSsl.RunAsync("x509", "-in", path, "-noout", "-text");

        Assert.Matches(@"X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation\s*\n", text);
        Assert.Contains("Policy: " + PkiOids.AdvancedPolicy, text, StringComparison.Ordinal);
        Assert.DoesNotContain("qcStatements", text, StringComparison.Ordinal);
        Assert.DoesNotContain("0.4.0.194112", text, StringComparison.Ordinal);
        Assert.InRange(await ValidityYearsAsync(path), 9.99, 10.01);
    }

    [Fact]
    public async Task Simple_certificate_is_valid_three_years_with_digital_signature()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Simple);
        var path = pki.Write(cert);
        var text = await OpenSsl.RunAsync("x509", "-in", path, "-noout", "-text");

        Assert.Matches(@"X509v3 Key Usage: critical\s+Digital Signature\s*\n", text);
        Assert.Contains("Policy: " + PkiOids.SimplePolicy, text, StringComparison.Ordinal);
        Assert.InRange(await ValidityYearsAsync(path), 2.99, 3.01);
    }

    [Theory]
    [InlineData(CredentialLevel.Simple)]
    [InlineData(CredentialLevel.Advanced)]
    [InlineData(CredentialLevel.Qualified)]
    public async Task Subject_urls_and_key_identifiers_follow_the_profile(CredentialLevel level)
    {
        var (cert, _) = await pki.IssueAsync(level);
        var path = pki.Write(cert);
        var name = PkiLevels.Name(level);
        var subject = await OpenSsl.RunAsync("x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253");
        Assert.Equal(
            "subject=CN=Erika Mustermann,serialNumber=PNODE-1234567890,GN=Erika,SN=Mustermann,title=Prokuristin,O=Musterfirma GmbH,C=DE",
            subject.Trim());

        var text = await OpenSsl.RunAsync("x509", "-in", path, "-noout", "-text");
        Assert.Contains($"URI:{pki.BaseUrl}/crl/{name}.crl", text, StringComparison.Ordinal);
        Assert.Contains($"OCSP - URI:{pki.BaseUrl}/ocsp", text, StringComparison.Ordinal);
        Assert.Contains($"CA Issuers - URI:{pki.BaseUrl}/pki/ca-{name}.cer", text, StringComparison.Ordinal);
        Assert.Contains("X509v3 Subject Key Identifier", text, StringComparison.Ordinal);
        Assert.Contains("X509v3 Authority Key Identifier", text, StringComparison.Ordinal);
        Assert.Contains("CA:FALSE", text, StringComparison.Ordinal);

        // Positive, at most 20 octets, with at least 64 random bits: 16 bytes, top bit clear.
        var serial = cert.SerialNumberBytes.ToArray();
        Assert.Equal(16, serial.Length);
        Assert.Equal(0, serial[0] & 0x80);
    }

    [Theory]
    [InlineData(CredentialLevel.Simple, KeyAlgorithm.EcP256)]
    [InlineData(CredentialLevel.Advanced, KeyAlgorithm.EcP384)]
    [InlineData(CredentialLevel.Qualified, KeyAlgorithm.Rsa3072)]
    public async Task Openssl_verifies_the_chain_to_the_root(CredentialLevel level, KeyAlgorithm algorithm)
    {
        var (cert, _) = await pki.IssueAsync(level, algorithm);
        var output = await OpenSsl.RunAsync(
            "verify", "-x509_strict", "-CAfile", pki.Pem("root.pem"), "-untrusted", pki.Pem($"ca-{PkiLevels.Name(level)}.pem"), pki.Write(cert));
        Assert.Contains(": OK", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_does_not_verify_under_another_levels_ca()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var result = await OpenSsl.TryRunAsync(
            "verify", "-CAfile", pki.Pem("root.pem"), "-untrusted", pki.Pem("ca-advanced.pem"), pki.Write(cert));
        Assert.NotEqual(0, result.ExitCode);
    }

    [Fact]
    public async Task A_key_of_another_algorithm_than_declared_is_refused()
    {
        var key = await pki.Vault.Domain("simple").CreateCredentialKeyAsync(KeyAlgorithm.EcP256, "135790"u8.ToArray(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<DTrustException>(() =>
            pki.Issuer.IssueAsync(CredentialLevel.Simple, PkiFixture.Holder, key.SubjectPublicKeyInfo, KeyAlgorithm.Rsa2048, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);

        e = await Assert.ThrowsAsync<DTrustException>(() =>
            pki.Issuer.IssueAsync(CredentialLevel.Simple, PkiFixture.Holder, new byte[] { 0x30, 0x03, 0x02, 0x01, 0x01 }, KeyAlgorithm.EcP256, CancellationToken.None));
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public async Task Holder_without_organisation_gets_no_o_or_title()
    {
        var holder = new CertificateHolder { GivenName = "Max", Surname = "Muster", Country = "AT" };
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Simple, holder: holder);
        var subject = await OpenSsl.RunAsync("x509", "-in", pki.Write(cert), "-noout", "-subject", "-nameopt", "RFC2253");
        Assert.Equal("subject=CN=Max Muster,GN=Max,SN=Muster,C=AT", subject.Trim());
    }

    private static async Task<string> QcStatementsAsync(string certPath)
    {
        var dump = (await OpenSsl.RunAsync("asn1parse", "-in", certPath)).Split('\n');
        var at = Array.FindIndex(dump, l => l.Contains(":qcStatements", StringComparison.Ordinal));
        Assert.True(at >= 0, "no qcStatements extension in the asn1parse dump");
        var offset = dump[at + 1].Split(':')[0].Trim();
        return await OpenSsl.RunAsync("asn1parse", "-in", certPath, "-strparse", offset);
    }

    private static async Task<double> ValidityYearsAsync(string certPath)
    {
        var dates = await OpenSsl.RunAsync("x509", "-in", certPath, "-noout", "-startdate", "-enddate");
        var start = ParseDate(DateLine().Match(dates, dates.IndexOf("notBefore=", StringComparison.Ordinal)).Groups[1].Value);
        var end = ParseDate(DateLine().Match(dates, dates.IndexOf("notAfter=", StringComparison.Ordinal)).Groups[1].Value);
        return (end - start).TotalDays / 365.25;
    }

    private static DateTime ParseDate(string text) =>
        DateTime.ParseExact(Spaces().Replace(text.Trim(), " "), "MMM d HH:mm:ss yyyy 'GMT'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"=(.+)")]
    private static partial Regex DateLine();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
