using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using DTrust.SigningServer.Pki;
using DTrust.SigningServer.Store;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace DTrust.Pki.Tests;

/// <summary>The RFC 6960 responder over HTTP, asked by openssl ocsp and by hand-built requests.</summary>
[Collection(PkiGroup.Name)]
public sealed class OcspTests(PkiFixture pki)
{
    [Theory]
    [InlineData(CredentialLevel.Simple)]
    [InlineData(CredentialLevel.Advanced)]
    [InlineData(CredentialLevel.Qualified)]
    public async Task Openssl_gets_good_with_a_verified_signature_and_its_nonce(CredentialLevel level)
    {
        var (cert, _) = await pki.IssueAsync(level);
        var certPath = pki.Write(cert);
        var output = await AskOpensslAsync(level, certPath);

        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Contains(certPath + ": good", output, StringComparison.Ordinal);

        // openssl sends a nonce by default and warns when the response lacks it or it differs.
        Assert.DoesNotContain("WARNING", output, StringComparison.Ordinal);
        Assert.DoesNotContain("nonce", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Openssl_with_sha256_cert_ids_gets_good()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var certPath = pki.Write(cert);
        var output = await AskOpensslAsync(CredentialLevel.Qualified, certPath, "-sha256");
        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Contains(certPath + ": good", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CredentialStatus.Revoked)]
    [InlineData(CredentialStatus.RevocationInProgress)]
    public async Task Openssl_gets_revoked_with_time_and_reason(CredentialStatus status)
    {
        var (cert, record) = await pki.IssueAsync(CredentialLevel.Qualified);
        pki.Revoke(record, reason: 1, status);
        var certPath = pki.Write(cert);
        var output = await AskOpensslAsync(CredentialLevel.Qualified, certPath);

        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Contains(certPath + ": revoked", output, StringComparison.Ordinal);
        Assert.Contains("Reason: keyCompromise", output, StringComparison.Ordinal);
        Assert.Contains("Revocation Time:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serial_the_store_does_not_know_is_unknown()
    {
        var ca = pki.Cas[CredentialLevel.Simple];
        var response = await PostAsync(Request(ca.Certificate.RawData, new BigInteger(1, RandomNumberGenerator.GetBytes(16))));
        Assert.IsType<UnknownStatus>(Single(response).GetCertStatus());
    }

    [Fact]
    public async Task Issuer_that_is_not_one_of_our_cas_is_unauthorized_and_unsigned()
    {
        // The root is ours but issues no end-entity certificates: its CertIDs match no issuing CA. Anyone can send
        // such requests, so they must not cost an HSM signature: unauthorized (RFC 6960 §2.3) carries none.
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var root = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(pki.Pem("root.pem")));
        using var content = new ByteArrayContent(Request(root.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray())));
        content.Headers.ContentType = new MediaTypeHeaderValue(OcspResponder.RequestMediaType);
        using var response = await pki.Http.PostAsync(new Uri(pki.BaseUrl + "/ocsp"), content);
        var answer = new OcspResp(await response.Content.ReadAsByteArrayAsync());

        Assert.Equal(OcspRespStatus.Unauthorized, answer.Status);
        Assert.Null(answer.GetResponseObject());
    }

    [Fact]
    public async Task Response_echoes_the_nonce_names_the_responder_by_key_and_carries_its_certificate()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Advanced);
        var ca = pki.Cas[CredentialLevel.Advanced];
        var nonce = RandomNumberGenerator.GetBytes(32);
        var basic = await PostAsync(Request(ca.Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()), nonce));

        var echoed = Asn1OctetString.GetInstance(basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce).GetOctets());
        Assert.Equal(nonce, echoed.GetOctets());

        var responderCert = new BcCertificate(ca.OcspCertificate.RawData);
        Assert.True(basic.Verify(responderCert.GetPublicKey()));
        Assert.Equal(responderCert, Assert.Single(basic.GetCerts()));
#pragma warning disable CA5350 // RFC 6960 §4.2.1 defines ResponderID byKey as the SHA-1 of the key: not a choice here.
        var keyHash = SHA1.HashData(responderCert.CertificateStructure.SubjectPublicKeyInfo.PublicKey.GetBytes());
#pragma warning restore CA5350
        Assert.Equal(keyHash, basic.ResponderId.ToAsn1Object().GetKeyHash());

        var single = Single(basic);
        Assert.Null(single.GetCertStatus());
        Assert.NotNull(single.NextUpdate);
        Assert.True(single.NextUpdate > single.ThisUpdate);
    }

    [Fact]
    public async Task Get_with_url_encoded_base64_answers_like_post()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var request = Request(pki.Cas[CredentialLevel.Qualified].Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()));
        var encoded = Uri.EscapeDataString(Convert.ToBase64String(request));
        var http = await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/ocsp/{encoded}"));
        Assert.Equal("application/ocsp-response", http.Content.Headers.ContentType?.MediaType);
        var response = new OcspResp(await http.Content.ReadAsByteArrayAsync());
        Assert.Equal(OcspRespStatus.Successful, response.Status);
        Assert.Null(Single((BasicOcspResp)response.GetResponseObject()).GetCertStatus());
    }

    [Theory]
    [InlineData("")]
    [InlineData("not an ocsp request")]
    [InlineData("\u0030\u0003\u0002\u0001\u0001")]
    public async Task Malformed_post_is_answered_malformedRequest(string body)
    {
        using var content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        var http = await pki.Http.PostAsync(new Uri($"{pki.BaseUrl}/ocsp"), content);
        Assert.Equal(HttpStatusCode.OK, http.StatusCode);
        Assert.Equal(OcspRespStatus.MalformedRequest, new OcspResp(await http.Content.ReadAsByteArrayAsync()).Status);
    }

    [Fact]
    public async Task Malformed_get_and_oversized_post_are_answered_malformedRequest()
    {
        var get = await pki.Http.GetAsync(new Uri($"{pki.BaseUrl}/ocsp/%%%not-base64"));
        Assert.Equal(OcspRespStatus.MalformedRequest, new OcspResp(await get.Content.ReadAsByteArrayAsync()).Status);

        using var content = new ByteArrayContent(new byte[OcspResponder.MaxRequestBytes + 100]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        var post = await pki.Http.PostAsync(new Uri($"{pki.BaseUrl}/ocsp"), content);
        Assert.Equal(OcspRespStatus.MalformedRequest, new OcspResp(await post.Content.ReadAsByteArrayAsync()).Status);

        using var wrongType = new ByteArrayContent([0x30, 0x00]);
        wrongType.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await pki.Http.PostAsync(new Uri($"{pki.BaseUrl}/ocsp"), wrongType)).StatusCode);
    }

    private async Task<string> AskOpensslAsync(CredentialLevel level, string certPath, string digest = "-sha1")
    {
        var name = PkiLevels.Name(level);

        // The responder is trusted through its chain (CA under the root), not pinned with -VAfile: this checks
        // the delegation (OCSPSigning EKU, issued by the certificate's own CA) as a relying party would.
        return await OpenSsl.RunAsync(
            "ocsp",
            digest,
            "-issuer", pki.Pem($"ca-{name}.pem"),
            "-cert", certPath,
            "-url", pki.BaseUrl + "/ocsp",
            "-CAfile", pki.Pem("root.pem"),
            "-verify_other", pki.Pem($"ca-{name}.pem"));
    }

    private static byte[] Request(byte[] issuerDer, BigInteger serial, byte[]? nonce = null)
    {
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Oiw.OiwObjectIdentifiers.IdSha1, DerNull.Instance), new BcCertificate(issuerDer), serial));
        if (nonce is not null)
        {
            var extensions = new X509ExtensionsGenerator();
            extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(nonce));
            generator.SetRequestExtensions(extensions.Generate());
        }

        return generator.Generate().GetEncoded();
    }

    private async Task<BasicOcspResp> PostAsync(byte[] request)
    {
        using var content = new ByteArrayContent(request);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        var http = await pki.Http.PostAsync(new Uri($"{pki.BaseUrl}/ocsp"), content);
        var response = new OcspResp(await http.Content.ReadAsByteArrayAsync());
        Assert.Equal(OcspRespStatus.Successful, response.Status);
        return (BasicOcspResp)response.GetResponseObject();
    }

    private static SingleResp Single(BasicOcspResp response) => Assert.Single(response.Responses);
}
