using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Tsa.Internal;

namespace DTrust.Tsa;

/// <summary>The TSA certificate profile (RFC 3161 §2.3), shared by the dev PKI and operators' CSRs.</summary>
public static class TsaCertificateProfile
{
    /// <summary>
    /// Adds: extended key usage id-kp-timeStamping only, critical (RFC 3161 requires both); key usage
    /// digitalSignature, critical; subject key identifier. The issuer adds its authority key identifier.
    /// </summary>
    public static void AddExtensions(CertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid(Oids.TimeStampingEku, null) }, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
    }
}
