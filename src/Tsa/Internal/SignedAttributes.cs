using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa.Internal;

internal static class SignedAttributes
{
    /// <summary>
    /// SigningCertificateV2 (RFC 5035) with one ESSCertIDv2: the SHA-256 certificate hash (hashAlgorithm omitted,
    /// it is the DEFAULT) and issuerSerial, which binds the signer to one certificate even if a CA reissues the key.
    /// </summary>
    public static byte[] SigningCertificateV2(X509Certificate2 certificate)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                using (writer.PushSequence())
                {
                    writer.WriteOctetString(SHA256.HashData(certificate.RawData));
                    using (writer.PushSequence())
                    {
                        using (writer.PushSequence())
                        {
                            // GeneralName.directoryName [4]: explicit, because Name is a CHOICE.
                            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true)))
                            {
                                writer.WriteEncodedValue(certificate.IssuerName.RawData);
                            }
                        }

                        writer.WriteInteger(certificate.SerialNumberBytes.Span);
                    }
                }
            }
        }

        return writer.Encode();
    }
}
