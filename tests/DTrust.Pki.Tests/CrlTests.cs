using System.Net;
using System.Security.Cryptography;
using DTrust.Pki;
using DTrust.Store;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace DTrust.Pki.Tests;

/// <summary>CRLs signed in the HSM, read and applied by openssl.</summary>
[Collection(PkiGroup.Name)]
public sealed class CrlTests(PkiFixture pki)
{
    [Fact]
    public async Task Revoked_certificate_is_listed_with_its_reason_and_fails_openssl_crl_check()
    {
        var (good, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var (bad, record) = await pki.IssueAsync(CredentialLevel.Qualified);
        pki.Revoke(record, reason: 1);

        var crl = await pki.Crls.PublishAsync(CredentialLevel.Qualified, CancellationToken.None);
        var crlPath = pki.Write(PemEncoding.WriteString("X509 CRL", crl) + "\n", ".crl.pem");

        var text = await OpenSsl.RunAsync("crl", "-in", crlPath, "-noout", "-text");
        Assert.Contains("Serial Number: " + bad.SerialNumber, text, StringComparison.Ordinal);
        Assert.Contains("Key Compromise", text, StringComparison.Ordinal);
        Assert.DoesNotContain(good.SerialNumber, text, StringComparison.Ordinal);
        Assert.Contains("X509v3 CRL Number", text, StringComparison.Ordinal);
        Assert.Contains("X509v3 Authority Key Identifier", text, StringComparison.Ordinal);

        // openssl checks the CRL's signature against the CA too: a CRL signed by any other key fails both.
        var verifyBad = await OpenSsl.TryRunAsync(
            "verify", "-crl_check", "-CAfile", pki.Pem("root.pem"), "-untrusted", pki.Pem("ca-qualified.pem"), "-CRLfile", crlPath, pki.Write(bad));
        Assert.NotEqual(0, verifyBad.ExitCode);
        Assert.Contains("certificate revoked", verifyBad.StdOut + verifyBad.StdErr, StringComparison.Ordinal);

        var verifyGood = await OpenSsl.RunAsync(
            "verify", "-crl_check", "-CAfile", pki.Pem("root.pem"), "-untrusted", pki.Pem("ca-qualified.pem"), "-CRLfile", crlPath, pki.Write(good));
        Assert.Contains(": OK", verifyGood, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revocation_in_progress_is_already_listed()
    {
        var (cert, record) = await pki.IssueAsync(CredentialLevel.Advanced);
        pki.Revoke(record, reason: 4, CredentialStatus.RevocationInProgress);
        var text = await OpenSsl.RunAsync("crl", "-inform", "DER", "-in", WriteDer(await pki.Crls.PublishAsync(CredentialLevel.Advanced, CancellationToken.None)), "-noout", "-text");
        Assert.Contains("Serial Number: " + cert.SerialNumber, text, StringComparison.Ordinal);
        Assert.Contains("Superseded", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crl_numbers_increase_and_validity_is_one_day()
    {
        var first = Parse(await pki.Crls.PublishAsync(CredentialLevel.Simple, CancellationToken.None));
        var second = Parse(await pki.Crls.PublishAsync(CredentialLevel.Simple, CancellationToken.None));
        Assert.True(Number(second) > Number(first));
        Assert.Equal(TimeSpan.FromHours(24), second.NextUpdate!.Value - second.ThisUpdate);
        Assert.True(File.Exists(pki.Pem("crl-simple.crl")));
        Assert.Equal(second.GetEncoded(), await File.ReadAllBytesAsync(pki.Pem("crl-simple.crl")));
    }

    [Fact]
    public async Task Crl_and_ca_certificate_are_served_over_http()
    {
        var response = await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/crl/qualified.crl"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pkix-crl", response.Content.Headers.ContentType?.MediaType);
        var crl = Parse(await response.Content.ReadAsByteArrayAsync());
        var ca = new X509Certificate(pki.Cas[CredentialLevel.Qualified].Certificate.RawData);
        crl.Verify(ca.GetPublicKey());
        Assert.Equal(ca.SubjectDN, crl.IssuerDN);

        var cer = await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/pki/ca-qualified.cer"));
        Assert.Equal("application/pkix-cert", cer.Content.Headers.ContentType?.MediaType);
        Assert.Equal(pki.Cas[CredentialLevel.Qualified].Certificate.RawData, await cer.Content.ReadAsByteArrayAsync());

        // The root's CRL covers the CAs it certified (and the TSA): signed by the root, none of them revoked.
        var rootResponse = await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/crl/root.crl"));
        Assert.Equal(HttpStatusCode.OK, rootResponse.StatusCode);
        var rootCrl = Parse(await rootResponse.Content.ReadAsByteArrayAsync());
        var root = new X509Certificate(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
            await File.ReadAllTextAsync(pki.Pem("root.pem"))).RawData);
        rootCrl.Verify(root.GetPublicKey());
        Assert.False(rootCrl.IsRevoked(ca));
        Assert.Equal(HttpStatusCode.NotFound, (await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/crl/nope.crl"))).StatusCode);
    }

    private static X509Crl Parse(byte[] der) => new X509CrlParser().ReadCrl(der);

    private static System.Numerics.BigInteger Number(X509Crl crl) =>
        new(DerInteger.GetInstance(X509ExtensionUtilities.FromExtensionValue(crl.GetExtensionValue(X509Extensions.CrlNumber))).Value.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);

    private string WriteDer(byte[] der)
    {
        var path = pki.Write("", ".der");
        File.WriteAllBytes(path, der);
        return path;
    }
}
