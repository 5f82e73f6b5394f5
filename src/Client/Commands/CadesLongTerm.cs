using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using DTrust.Cms;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.Security;

namespace DTrust.Client.Commands;

/// <summary>What an embedded OCSP answer says about one certificate, and whether its signature and signer check out.</summary>
internal sealed record EmbeddedStatus(string Status, DateTimeOffset ProducedAt, bool SignatureOk, X509Certificate2? Responder);

/// <summary>
/// CAdES B-LT (EN 319 122-1 §5.5): the certificate values and revocation values a verifier needs, as unsigned
/// attributes of the signer, so that the signature verifies from the file alone once our responders are gone. And
/// the reading side for <c>dtrust verify</c>: the embedded OCSP answers about a certificate, checked offline
/// (OCSP structures by BouncyCastle, as on the server's responder).
/// </summary>
internal static class CadesLongTerm
{
    /// <summary>Adds certificate-values and revocation-values (CRLs, and the BasicOCSPResponse of each OCSP answer).</summary>
    public static byte[] Extend(byte[] cms, IEnumerable<byte[]> certificates, IEnumerable<byte[]> ocspResponses, IEnumerable<byte[]> crls)
    {
        var signed = new SignedCms(new ContentInfo([]), detached: true);
        signed.Decode(cms);
        var signer = signed.SignerInfos[0];

        var certValues = new AsnWriter(AsnEncodingRules.DER);
        using (certValues.PushSequence())
        {
            foreach (var c in certificates)
            {
                certValues.WriteEncodedValue(c);
            }
        }

        // RevocationValues ::= SEQUENCE { crlVals [0] SEQUENCE OF CertificateList, ocspVals [1] SEQUENCE OF
        // BasicOCSPResponse } in the module's explicit tagging.
        var revocation = new AsnWriter(AsnEncodingRules.DER);
        using (revocation.PushSequence())
        {
            using (revocation.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (revocation.PushSequence())
            {
                foreach (var crl in crls)
                {
                    revocation.WriteEncodedValue(crl);
                }
            }

            using (revocation.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
            using (revocation.PushSequence())
            {
                foreach (var response in ocspResponses)
                {
                    revocation.WriteEncodedValue(BasicResponse(response));
                }
            }
        }

        signer.AddUnsignedAttribute(new AsnEncodedData(new Oid(CmsOids.CertificateValues), certValues.Encode()));
        signer.AddUnsignedAttribute(new AsnEncodedData(new Oid(CmsOids.RevocationValues), revocation.Encode()));
        return signed.Encode();
    }

    /// <summary>The BasicOCSPResponse inside a successful OCSPResponse.</summary>
    public static byte[] BasicResponse(byte[] ocspResponse)
    {
        var response = new OcspResp(ocspResponse);
        return response.Status == OcspRespStatus.Successful && response.GetResponseObject() is BasicOcspResp basic
            ? basic.GetEncoded()
            : throw new FormatException($"the OCSP response is not successful (status {response.Status})");
    }

    /// <summary>The certificate values embedded in the signer, if any.</summary>
    public static X509Certificate2Collection CertValues(SignerInfo signer)
    {
        var found = new X509Certificate2Collection();
        foreach (var attribute in signer.UnsignedAttributes)
        {
            if (attribute.Oid.Value == CmsOids.CertificateValues)
            {
                var seq = new AsnReader(attribute.Values[0].RawData, AsnEncodingRules.DER).ReadSequence();
                while (seq.HasData)
                {
                    found.Add(X509CertificateLoader.LoadCertificate(seq.ReadEncodedValue().Span));
                }
            }
        }

        return found;
    }

    /// <summary>The embedded revocation values: the BasicOCSPResponses and the CRLs.</summary>
    public static (List<byte[]> Ocsp, List<byte[]> Crls) RevocationValues(SignerInfo signer)
    {
        var ocsp = new List<byte[]>();
        var crls = new List<byte[]>();
        foreach (var attribute in signer.UnsignedAttributes)
        {
            if (attribute.Oid.Value != CmsOids.RevocationValues)
            {
                continue;
            }

            var seq = new AsnReader(attribute.Values[0].RawData, AsnEncodingRules.DER).ReadSequence();
            while (seq.HasData)
            {
                var tag = seq.PeekTag();
                var list = seq.ReadSequence(tag).ReadSequence();
                while (list.HasData)
                {
                    var value = list.ReadEncodedValue().ToArray();
                    if (tag.TagValue == 0)
                    {
                        crls.Add(value);
                    }
                    else if (tag.TagValue == 1)
                    {
                        ocsp.Add(value);
                    }
                }
            }
        }

        return (ocsp, crls);
    }

    /// <summary>
    /// What the CRLs say about <paramref name="certificate"/> at <paramref name="at"/>: "good" or "revoked" from a CRL
    /// signed by <paramref name="issuer"/> that had not expired by then (one issued later is fresher still); null when none does.
    /// </summary>
    public static string? CrlStatus(IEnumerable<byte[]> crls, X509Certificate2 certificate, X509Certificate2 issuer, DateTime at)
    {
        var bcIssuer = new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(issuer.RawData);
        var bcCertificate = new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(certificate.RawData);
        foreach (var der in crls)
        {
            try
            {
                var crl = new Org.BouncyCastle.X509.X509CrlParser().ReadCrl(der);
                if (crl is null || !crl.IssuerDN.Equivalent(bcIssuer.SubjectDN) || crl.NextUpdate is { } next && next < at)
                {
                    continue;
                }

                crl.Verify(bcIssuer.GetPublicKey());
                return crl.IsRevoked(bcCertificate) ? "revoked" : "good";
            }
            catch (Exception e) when (e is Org.BouncyCastle.Security.Certificates.CrlException or Org.BouncyCastle.Security.InvalidKeyException
                or Org.BouncyCastle.Security.SignatureException or IOException or ArgumentException)
            {
                // An unreadable CRL, or one its issuer did not sign, says nothing.
            }
        }

        return null;
    }

    /// <summary>
    /// What a BasicOCSPResponse says about <paramref name="certificate"/> (good, revoked, unknown; null when it names
    /// another certificate), with its signature checked against the responder certificate it carries.
    /// </summary>
    public static EmbeddedStatus? StatusOf(byte[] basic, X509Certificate2 certificate, X509Certificate2? issuer = null)
    {
        var response = new BasicOcspResp(BasicOcspResponse.GetInstance(Asn1Object.FromByteArray(basic)));
        var serial = new Org.BouncyCastle.Math.BigInteger(1, certificate.SerialNumberBytes.ToArray());

        // The CertID names the issuer by the hashes of its name and key: with the issuer known, both must match too.
        var bcIssuer = issuer is null ? null : new Org.BouncyCastle.X509.X509CertificateParser().ReadCertificate(issuer.RawData);
        var single = response.Responses.FirstOrDefault(r => r.GetCertID().SerialNumber.Equals(serial)
            && (bcIssuer is null || r.GetCertID().MatchesIssuer(bcIssuer)));
        if (single is null)
        {
            return null;
        }

        var status = single.GetCertStatus() switch
        {
            null => "good",
            RevokedStatus => "revoked",
            _ => "unknown",
        };
        var responder = response.GetCerts().FirstOrDefault();
        return new EmbeddedStatus(
            status,
            new DateTimeOffset(response.ProducedAt, TimeSpan.Zero),
            responder is not null && response.Verify(responder.GetPublicKey()),
            responder is null ? null : X509CertificateLoader.LoadCertificate(responder.GetEncoded()));
    }

    /// <summary>A DER OCSPRequest (RFC 6960) for one certificate, CertID with SHA-1 as responders expect.</summary>
    public static byte[] OcspRequest(X509Certificate2 certificate, X509Certificate2 issuer)
    {
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(
            CertificateID.DigestSha1, DotNetUtilities.FromX509Certificate(issuer),
            new Org.BouncyCastle.Math.BigInteger(1, certificate.SerialNumberBytes.ToArray())));
        return generator.Generate().GetEncoded();
    }

    /// <summary>Asks the certificate's own OCSP responder (its AIA URL) now; null with the reason when it cannot be asked.</summary>
    public static async Task<(EmbeddedStatus? Status, string? Problem)> AskOnlineAsync(
        X509Certificate2 certificate, X509Certificate2Collection candidates, CancellationToken ct)
    {
        var issuer = candidates.FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData));
        var url = certificate.Extensions.OfType<X509AuthorityInformationAccessExtension>().SelectMany(a => a.EnumerateOcspUris()).FirstOrDefault();
        if (issuer is null || url is null)
        {
            return (null, issuer is null ? "the issuer's certificate is not in the signature" : "the certificate names no OCSP responder");
        }

        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var body = new ByteArrayContent(OcspRequest(certificate, issuer));
            body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/ocsp-request");
            using var response = await http.PostAsync(new Uri(url), body, ct);
            var der = await response.Content.ReadAsByteArrayAsync(ct);
            return (StatusOf(BasicResponse(der), certificate), null);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException or IOException or UriFormatException
            or Org.BouncyCastle.Ocsp.OcspException or ArgumentException)
        {
            return (null, $"the OCSP responder {url} could not be asked: {e.Message}");
        }
    }

    private static bool Verifies(X509Certificate2 responder, string algorithm, byte[] data, byte[] signature)
    {
        var hash = algorithm switch
        {
            "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
            _ => HashAlgorithmName.SHA256,
        };
        using var ec = responder.GetECDsaPublicKey();
        if (ec is not null)
        {
            return ec.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }

        using var rsa = responder.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1);
    }
}
