using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa.Internal;

/// <summary>Wraps a TSTInfo in CMS SignedData (RFC 3161 §2.4.2) signed by the TSA key.</summary>
internal sealed class TokenSigner(TsaSigner signer, TsaOptions options)
{
    private readonly string _digestOid = options.SignatureHash.Name switch
    {
        "SHA256" => Oids.Sha256,
        "SHA384" => Oids.Sha384,
        _ => Oids.Sha512,
    };

    public byte[] Sign(byte[] tstInfo, bool includeCertificates)
    {
        var cms = new SignedCms(new ContentInfo(new Oid(Oids.TstInfo, null), tstInfo), detached: false);

        // The key is passed separately so that an HSM-backed ECDsa/RSA works and the certificate stays public-only.
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer.Certificate, signer.Key)
        {
            DigestAlgorithm = new Oid(_digestOid, null),
            IncludeOption = includeCertificates ? X509IncludeOption.EndCertOnly : X509IncludeOption.None,
        };
        if (signer.Key is RSA)
        {
            cmsSigner.SignaturePadding = options.RsaPadding ?? RSASignaturePadding.Pss;
        }

        // content-type and message-digest are added by SignedCms; signing-certificate-v2 ties the signature to
        // this certificate (RFC 5816).
        cmsSigner.SignedAttributes.Add(new AsnEncodedData(Oids.SigningCertificateV2, signer.SigningCertificateV2));
        if (includeCertificates && options.IncludeChain)
        {
            cmsSigner.Certificates.AddRange(signer.Chain);
        }

        cms.ComputeSignature(cmsSigner, silent: true);
        return cms.Encode();
    }
}
