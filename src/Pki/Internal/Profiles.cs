using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Pki.Internal;

/// <summary>Extensions .NET has no type for: certificate policies, QC statements, OCSP no-check.</summary>
internal static class Profiles
{
    /// <summary>RFC 5280 §4.2.1.4: policy identifiers only, no qualifiers (the CPS URL is a later, per-deployment option).</summary>
    public static X509Extension CertificatePolicies(params string[] policyOids)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var oid in policyOids)
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(oid);
                }
            }
        }

        return new X509Extension(PkiOids.CertificatePolicies, writer.Encode(), critical: false);
    }

    /// <summary>
    /// ETSI EN 319 412-5 for a qualified electronic signature with the key in a QSCD: QcCompliance, QcSSCD and
    /// QcType esign. Non-critical, as EN 319 412-5 §4.1 requires.
    /// </summary>
    public static X509Extension QcStatementsEsign() => QcStatements(PkiOids.QcTypeEsign, qscd: true);

    /// <summary>
    /// EN 319 412-5 statements of a seal certificate: QcCompliance, QcSSCD only when the key is in a QSCD
    /// (QCP-l-qscd), and QcType eseal.
    /// </summary>
    public static X509Extension QcStatementsEseal(bool qscd) => QcStatements(PkiOids.QcTypeEseal, qscd, PkiOids.SemanticsIdLegal);

    /// <summary>
    /// With <paramref name="semantics"/>: RFC 3739 SemanticsInformation (id-qcs-pkixQCSyntax-v2) naming how the
    /// subject's identifier reads, as EN 319 412-1 §5.1.4 asks of an organizationIdentifier in its form.
    /// </summary>
    private static X509Extension QcStatements(string qcType, bool qscd, string? semantics = null)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(PkiOids.QcCompliance);
            }

            if (qscd)
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(PkiOids.QcSscd);
                }
            }

            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(PkiOids.QcType);
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(qcType);
                }
            }

            if (semantics is not null)
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(PkiOids.QcSyntaxV2);
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(semantics);
                    }
                }
            }
        }

        return new X509Extension(PkiOids.QcStatements, writer.Encode(), critical: false);
    }

    /// <summary>id-pkix-ocsp-nocheck, value NULL.</summary>
    public static X509Extension OcspNoCheck() => new(PkiOids.OcspNoCheck, [0x05, 0x00], critical: false);

    public static CertificateRequest CaRequest(X500DistinguishedName subject, AsymmetricAlgorithm key, HashAlgorithmName hash)
    {
        var req = NewRequest(subject, key, hash);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, critical: true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req;
    }

    public static CertificateRequest OcspRequest(X500DistinguishedName subject, AsymmetricAlgorithm key, HashAlgorithmName hash)
    {
        var req = NewRequest(subject, key, hash);
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(PkiOids.OcspSigning)], critical: false));
        req.CertificateExtensions.Add(OcspNoCheck());
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req;
    }

    private static CertificateRequest NewRequest(X500DistinguishedName subject, AsymmetricAlgorithm key, HashAlgorithmName hash) =>
        key is RSA rsa
            ? new CertificateRequest(subject, rsa, hash, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(subject, (ECDsa)key, hash);
}
