using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using DTrust.Pki;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using DTrust.Testing;
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
    public async Task Openssl_gets_good_with_a_verified_signature_and_no_nonce(CredentialLevel level)
    {
        var (cert, _) = await pki.IssueAsync(level);
        var certPath = pki.Write(cert);
        var output = await AskOpensslAsync(level, certPath);

        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Contains(certPath + ": good", output, StringComparison.Ordinal);

        // openssl sends a nonce by default; a pre-produced answer has none, and openssl only warns about it.
        Assert.Contains("WARNING: no nonce in response", output, StringComparison.Ordinal);
        Assert.DoesNotContain("nonce verify error", output, StringComparison.OrdinalIgnoreCase);
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
    public async Task Unknown_issuers_cost_no_signature_however_many_ask()
    {
        var root = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(pki.Pem("root.pem")));
        var signed = PkiMetrics.OcspCount(OcspOutcome.Signed);
        var unauthorized = PkiMetrics.OcspCount(OcspOutcome.Unauthorized);
        for (var i = 0; i < 20; i++)
        {
            var answer = await PostRawAsync(Request(root.RawData, new BigInteger(1, RandomNumberGenerator.GetBytes(16))));
            Assert.Equal(OcspRespStatus.Unauthorized, answer.Status);
        }

        // The tests of this collection run one at a time: nothing else signs OCSP answers meanwhile.
        Assert.Equal(signed, PkiMetrics.OcspCount(OcspOutcome.Signed));
        Assert.Equal(unauthorized + 20, PkiMetrics.OcspCount(OcspOutcome.Unauthorized));
    }

    [Fact]
    public async Task Identical_requests_get_the_same_pre_produced_answer_signed_once_whatever_their_nonce()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var issuer = pki.Cas[CredentialLevel.Qualified].Certificate.RawData;
        var serial = new BigInteger(1, cert.SerialNumberBytes.ToArray());
        var signed = PkiMetrics.OcspCount(OcspOutcome.Signed);

        var first = await PostBytesAsync(Request(issuer, serial, RandomNumberGenerator.GetBytes(16)));
        var second = await PostBytesAsync(Request(issuer, serial, RandomNumberGenerator.GetBytes(16)));
        var third = await PostBytesAsync(Request(issuer, serial));

        Assert.Equal(first, second);
        Assert.Equal(first, third);
        Assert.Equal(signed + 1, PkiMetrics.OcspCount(OcspOutcome.Signed));

        var basic = (BasicOcspResp)new OcspResp(first).GetResponseObject();
        Assert.True(basic.Verify(new BcCertificate(pki.Cas[CredentialLevel.Qualified].OcspCertificate.RawData).GetPublicKey()));
        var single = Single(basic);
        Assert.Null(single.GetCertStatus());
        Assert.Equal(TimeSpan.FromMinutes(pki.Options.OcspValidityMinutes), single.NextUpdate!.Value - single.ThisUpdate);
    }

    [Fact]
    public async Task Sha1_and_sha256_cert_ids_get_their_own_answers()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Simple);
        var issuer = new BcCertificate(pki.Cas[CredentialLevel.Simple].Certificate.RawData);
        var serial = new BigInteger(1, cert.SerialNumberBytes.ToArray());
        var sha1 = new CertificateID(new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Oiw.OiwObjectIdentifiers.IdSha1, DerNull.Instance), issuer, serial);
        var sha256 = new CertificateID(new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Nist.NistObjectIdentifiers.IdSha256, DerNull.Instance), issuer, serial);

        foreach (var id in new[] { sha1, sha256, sha1, sha256 })
        {
            var generator = new OcspReqGenerator();
            generator.AddRequest(id);
            var single = Single(await PostAsync(generator.Generate().GetEncoded()));
            Assert.Equal(id, single.GetCertID());
            Assert.Null(single.GetCertStatus());
        }
    }

    [Fact]
    public async Task A_revocation_recorded_after_a_cached_good_answer_is_answered_revoked_at_once()
    {
        var (cert, record) = await pki.IssueAsync(CredentialLevel.Advanced);
        var request = Request(pki.Cas[CredentialLevel.Advanced].Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()));
        var good = await PostBytesAsync(request);
        Assert.Equal(good, await PostBytesAsync(request));
        Assert.Null(Single((BasicOcspResp)new OcspResp(good).GetResponseObject()).GetCertStatus());

        pki.Revoke(record, reason: 1, CredentialStatus.RevocationInProgress);
        var revoked = Assert.IsType<RevokedStatus>(Single(await PostAsync(request)).GetCertStatus());
        Assert.Equal(CrlReason.KeyCompromise, revoked.RevocationReason);

        // And it stays revoked: the new answer replaced the good one in the cache.
        Assert.IsType<RevokedStatus>(Single(await PostAsync(request)).GetCertStatus());
    }

    [Fact]
    public async Task A_good_answer_cached_by_other_certificates_survives_a_revocation_unchanged()
    {
        var (kept, _) = await pki.IssueAsync(CredentialLevel.Simple);
        var (_, doomed) = await pki.IssueAsync(CredentialLevel.Simple);
        var request = Request(pki.Cas[CredentialLevel.Simple].Certificate.RawData, new BigInteger(1, kept.SerialNumberBytes.ToArray()));
        var before = await PostBytesAsync(request);
        var signed = PkiMetrics.OcspCount(OcspOutcome.Signed);

        pki.Revoke(doomed, reason: 1);

        // Checked against the store again (the revocation could have been this certificate's), not signed again.
        Assert.Equal(before, await PostBytesAsync(request));
        Assert.Equal(signed, PkiMetrics.OcspCount(OcspOutcome.Signed));
    }

    [Fact]
    public async Task A_pre_produced_answer_is_signed_again_once_refresh_old_well_before_its_next_update()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new PkiOptions { OcspValidityMinutes = 60, OcspRefreshMinutes = 30 };
        using var ocsp = new OcspResponder(pki.Cas, pki.Store, options, clock, Microsoft.Extensions.Logging.Abstractions.NullLogger<OcspResponder>.Instance);
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Simple);
        var request = Request(pki.Cas[CredentialLevel.Simple].Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()));

        var first = await ocsp.RespondAsync(request, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(29));
        Assert.Equal(first, await ocsp.RespondAsync(request, CancellationToken.None));

        clock.Advance(TimeSpan.FromMinutes(2));
        var second = await ocsp.RespondAsync(request, CancellationToken.None);
        Assert.NotEqual(first, second);
        var before = Single((BasicOcspResp)new OcspResp(first).GetResponseObject());
        var after = Single((BasicOcspResp)new OcspResp(second).GetResponseObject());
        Assert.True(before.NextUpdate > clock.Now.UtcDateTime, "the first answer was replaced before its nextUpdate");
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(clock.Now.ToUnixTimeSeconds()).UtcDateTime, after.ThisUpdate);
        Assert.Equal(after.ThisUpdate.AddMinutes(60), after.NextUpdate);
        Assert.Null(after.GetCertStatus());
    }

    [Fact]
    public async Task A_revocation_this_node_was_not_told_of_is_seen_after_the_recheck_interval()
    {
        // Another node revoked: the shared store says so, this node's responder was not told.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new PkiOptions { OcspRecheckSeconds = 10 };
        using var ocsp = new OcspResponder(pki.Cas, pki.Store, options, clock, Microsoft.Extensions.Logging.Abstractions.NullLogger<OcspResponder>.Instance);
        var (cert, record) = await pki.IssueAsync(CredentialLevel.Qualified);
        var request = Request(pki.Cas[CredentialLevel.Qualified].Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()));
        var good = await ocsp.RespondAsync(request, CancellationToken.None);

        pki.Store.Put(record with { Status = CredentialStatus.Revoked, RevocationReason = 1, RevokedAt = clock.Now, Version = record.Version + 1 });
        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(good, await ocsp.RespondAsync(request, CancellationToken.None));

        clock.Advance(TimeSpan.FromSeconds(2));
        var answer = (BasicOcspResp)new OcspResp(await ocsp.RespondAsync(request, CancellationToken.None)).GetResponseObject();
        Assert.IsType<RevokedStatus>(Single(answer).GetCertStatus());
    }

    [Fact]
    public async Task Unknown_serial_answers_are_signed_once_and_served_again()
    {
        var request = Request(pki.Cas[CredentialLevel.Simple].Certificate.RawData, new BigInteger(1, RandomNumberGenerator.GetBytes(16)));
        var first = await PostBytesAsync(request);
        Assert.Equal(first, await PostBytesAsync(request));
        Assert.IsType<UnknownStatus>(Single((BasicOcspResp)new OcspResp(first).GetResponseObject()).GetCertStatus());
    }

    [Fact]
    public async Task Several_certificates_in_one_request_are_signed_for_it_and_get_the_nonce()
    {
        var (one, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var (two, _) = await pki.IssueAsync(CredentialLevel.Qualified);
        var issuer = new BcCertificate(pki.Cas[CredentialLevel.Qualified].Certificate.RawData);
        var alg = new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Oiw.OiwObjectIdentifiers.IdSha1, DerNull.Instance);
        var nonce = RandomNumberGenerator.GetBytes(16);
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(alg, issuer, new BigInteger(1, one.SerialNumberBytes.ToArray())));
        generator.AddRequest(new CertificateID(alg, issuer, new BigInteger(1, two.SerialNumberBytes.ToArray())));
        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(nonce));
        generator.SetRequestExtensions(extensions.Generate());

        var basic = await PostAsync(generator.Generate().GetEncoded());
        Assert.Equal(2, basic.Responses.Length);
        Assert.All(basic.Responses, r => Assert.Null(r.GetCertStatus()));
        Assert.Equal(nonce, Asn1OctetString.GetInstance(basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce).GetOctets()).GetOctets());
        Assert.True(basic.Verify(new BcCertificate(pki.Cas[CredentialLevel.Qualified].OcspCertificate.RawData).GetPublicKey()));
    }

    [Fact]
    public async Task A_burst_over_the_rate_limit_gets_429s_and_the_responder_answers_again_after()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Simple);
        var request = Request(pki.Cas[CredentialLevel.Simple].Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()));
        var expected = await PostBytesAsync(request);
        var limit = pki.Options.RateLimit.Burst;

        var answers = await Task.WhenAll(Enumerable.Range(0, limit * 3).Select(async _ =>
        {
            using var content = new ByteArrayContent(request);
            content.Headers.ContentType = new MediaTypeHeaderValue(OcspResponder.RequestMediaType);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var response = await pki.Http.PostAsync(new Uri(pki.BaseUrl + "/ocsp"), content);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync());
            }

            return (response.StatusCode, clock.Elapsed);
        }));
        var codes = answers.Select(a => a.StatusCode).ToArray();

        // Refusals come late (a tarpit): a client flooding over one connection gets about two answers a second.
        var delay = TimeSpan.FromMilliseconds(pki.Options.RateLimit.RejectDelayMilliseconds);
        Assert.All(answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests), a => Assert.True(a.Elapsed >= delay * 0.9, a.Elapsed.ToString()));

        var refused = codes.Count(c => c == HttpStatusCode.TooManyRequests);
        Assert.True(refused >= limit, $"{refused} of {codes.Length} refused");
        Assert.All(codes, c => Assert.True(c is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, c.ToString()));

        // The bucket refills: the responder answers again, and the rest of the collection is not starved.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var content = new ByteArrayContent(request);
            content.Headers.ContentType = new MediaTypeHeaderValue(OcspResponder.RequestMediaType);
            using var response = await pki.Http.PostAsync(new Uri(pki.BaseUrl + "/ocsp"), content);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync());
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "still refused after 30 s");
            await Task.Delay(200);
        }

        await Task.Delay(TimeSpan.FromSeconds((double)limit / pki.Options.RateLimit.PermitsPerSecond));
    }

    [Fact]
    public async Task Response_names_the_responder_by_key_and_carries_its_certificate_but_no_nonce()
    {
        var (cert, _) = await pki.IssueAsync(CredentialLevel.Advanced);
        var ca = pki.Cas[CredentialLevel.Advanced];
        var nonce = RandomNumberGenerator.GetBytes(32);
        var basic = await PostAsync(Request(ca.Certificate.RawData, new BigInteger(1, cert.SerialNumberBytes.ToArray()), nonce));

        // RFC 5019 §2.2.1: a pre-produced answer ignores the nonce (echoing it would need a signature per request).
        Assert.Null(basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce));

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

    private async Task<OcspResp> PostRawAsync(byte[] request) => new(await PostBytesAsync(request));

    private async Task<byte[]> PostBytesAsync(byte[] request)
    {
        using var content = new ByteArrayContent(request);
        content.Headers.ContentType = new MediaTypeHeaderValue(OcspResponder.RequestMediaType);
        using var http = await pki.Http.PostAsync(new Uri($"{pki.BaseUrl}/ocsp"), content);
        Assert.Equal(HttpStatusCode.OK, http.StatusCode);
        return await http.Content.ReadAsByteArrayAsync();
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
