using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Cms;

/// <summary>
/// What a signer's certificate contributes to every SignedData it signs, encoded once: the signer identifier, the
/// signing-certificate-v2 attribute and the certificate sets. Immutable and thread-safe; build one per certificate
/// so a batch (or a TSA's stream of tokens) pays for it once.
/// </summary>
public sealed class CmsSignerIdentity
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag DirectoryName = new(TagClass.ContextSpecific, 4, isConstructed: true);

    /// <param name="certificate">The signer certificate (public only).</param>
    /// <param name="chain">Certificates a verifier needs to build the path; the signer is not written twice.</param>
    public CmsSignerIdentity(X509Certificate2 certificate, IEnumerable<X509Certificate2> chain)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(chain);
        Certificate = certificate;
        IssuerAndSerialNumber = EncodeIssuerAndSerialNumber(certificate);
        SigningCertificateV2Attribute = EncodeSigningCertificateV2(certificate);
        CertificateOnly = CertificateSet([certificate]);
        var seen = new HashSet<string>(StringComparer.Ordinal) { certificate.Thumbprint };
        var all = new List<X509Certificate2> { certificate };
        foreach (var c in chain)
        {
            ArgumentNullException.ThrowIfNull(c, nameof(chain));
            if (seen.Add(c.Thumbprint))
            {
                all.Add(c);
            }
        }

        CertificatesWithChain = CertificateSet(all);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>SignerIdentifier issuerAndSerialNumber (SignerInfo version 1).</summary>
    public byte[] IssuerAndSerialNumber { get; }

    /// <summary>
    /// The signing-certificate-v2 Attribute (RFC 5035): one ESSCertIDv2 with the SHA-256 certificate hash
    /// (hashAlgorithm omitted: SHA-256 is the DEFAULT) and issuerSerial, which ties the signature to this certificate
    /// even if a CA certifies the same key again (the substitution ESS guards against).
    /// </summary>
    public byte[] SigningCertificateV2Attribute { get; }

    /// <summary>certificates [0] IMPLICIT CertificateSet with the signer only.</summary>
    public byte[] CertificateOnly { get; }

    /// <summary>certificates [0] IMPLICIT CertificateSet with the signer and its chain, each once.</summary>
    public byte[] CertificatesWithChain { get; }

    private static byte[] EncodeIssuerAndSerialNumber(X509Certificate2 certificate)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(certificate.IssuerName.RawData);
            writer.WriteInteger(certificate.SerialNumberBytes.Span);
        }

        return writer.Encode();
    }

    private static byte[] EncodeSigningCertificateV2(X509Certificate2 certificate)
    {
        Span<byte> certHash = stackalloc byte[32];
        SHA256.HashData(certificate.RawData, certHash);
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 256);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(CmsOids.SigningCertificateV2);
            using (writer.PushSetOf())
            using (writer.PushSequence()) // SigningCertificateV2
            using (writer.PushSequence()) // certs: SEQUENCE OF ESSCertIDv2
            using (writer.PushSequence()) // ESSCertIDv2
            {
                writer.WriteOctetString(certHash);
                using (writer.PushSequence()) // IssuerSerial
                {
                    using (writer.PushSequence()) // GeneralNames
                    // directoryName [4] is EXPLICIT: Name is a CHOICE.
                    using (writer.PushSequence(DirectoryName))
                    {
                        writer.WriteEncodedValue(certificate.IssuerName.RawData);
                    }

                    writer.WriteInteger(certificate.SerialNumberBytes.Span);
                }
            }
        }

        return writer.Encode();
    }

    private static byte[] CertificateSet(IEnumerable<X509Certificate2> certificates)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSetOf(Context0))
        {
            foreach (var certificate in certificates)
            {
                writer.WriteEncodedValue(certificate.RawData);
            }
        }

        return writer.Encode();
    }
}
