using System.Buffers;
using System.Formats.Asn1;
using System.Security.Cryptography;

namespace DTrust.Cms;

/// <summary>
/// Writes CMS SignedData (RFC 5652 §5) with one signer whose signature is made elsewhere (the HSM): first the
/// signed attributes to sign, then the ContentInfo around the signature. Used for CAdES/PAdES signatures (detached,
/// id-data) and for RFC 3161 tokens (TSTInfo encapsulated); what differs is a <see cref="CmsAttributeProfile"/>.
/// </summary>
/// <remarks>
/// Encoded with AsnWriter rather than SignedCms: SignedCms.ComputeSignature wants the private key in process and
/// re-encodes and re-decodes the whole message per call, several times the cost of a P-256 signature; here the
/// structure is fixed and all that depends only on the signer comes pre-encoded in <see cref="CmsSignerIdentity"/>.
/// </remarks>
public static class SignedDataWriter
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context1 = new(TagClass.ContextSpecific, 1, isConstructed: true);

    /// <summary>
    /// The DER SignedAttributes (a SET OF, tag 0x31: exactly the bytes the signature covers): content-type, message-digest,
    /// signing-certificate-v2 and, when the profile claims one, signing-time (whole seconds, UTC).
    /// </summary>
    public static byte[] SignedAttributes(CmsAttributeProfile profile, CmsSignerIdentity signer, ReadOnlySpan<byte> messageDigest,
        DateTimeOffset signingTime = default)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(signer);
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 256 + signer.SigningCertificateV2Attribute.Length);

        // DER sorts the SET OF by encoding when it is popped: the order of the writes below does not matter.
        using (writer.PushSetOf())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(CmsOids.ContentType);
                using (writer.PushSetOf())
                {
                    writer.WriteObjectIdentifier(profile.ContentType);
                }
            }

            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(CmsOids.MessageDigest);
                using (writer.PushSetOf())
                {
                    writer.WriteOctetString(messageDigest);
                }
            }

            if (profile.SigningTime)
            {
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(CmsOids.SigningTime);
                    using (writer.PushSetOf())
                    {
                        WriteTime(writer, signingTime);
                    }
                }
            }

            writer.WriteEncodedValue(signer.SigningCertificateV2Attribute);
        }

        return writer.Encode();
    }

    /// <summary>The DER ContentInfo of the SignedData.</summary>
    /// <param name="signedAttributes">What <see cref="SignedAttributes"/> returned for this signature.</param>
    /// <param name="signature">The value over the <paramref name="hash"/> digest of <paramref name="signedAttributes"/>.</param>
    /// <param name="certificates">One of the signer's certificate sets, or empty to leave the certificates out.</param>
    /// <param name="encapsulatedContent">The eContent (a TSTInfo); empty for a detached signature.</param>
    /// <param name="signatureTimeStamp">Empty, or a TimeStampToken over the signature value (CAdES/PAdES B-T).</param>
    public static byte[] ContentInfo(CmsAttributeProfile profile, CmsSignerIdentity signer, HashAlgorithmName hash, CmsSignatureScheme scheme,
        ReadOnlySpan<byte> signedAttributes, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> certificates,
        ReadOnlySpan<byte> encapsulatedContent = default, ReadOnlySpan<byte> signatureTimeStamp = default)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(signer);
        var digestAlgorithm = CmsAlgorithms.Digest(hash).Span;
        var writer = new AsnWriter(AsnEncodingRules.DER,
            initialCapacity: certificates.Length + signedAttributes.Length + signature.Length + encapsulatedContent.Length + signatureTimeStamp.Length + 256);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(CmsOids.SignedData);
            using (writer.PushSequence(Context0))
            using (writer.PushSequence())
            {
                // Version 1 for id-data content, 3 otherwise; issuerAndSerialNumber signer, X.509 certificates only (§5.1).
                writer.WriteInteger(profile.ContentType == CmsOids.Data ? 1 : 3);
                using (writer.PushSetOf())
                {
                    writer.WriteEncodedValue(digestAlgorithm);
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(profile.ContentType);
                    if (!encapsulatedContent.IsEmpty)
                    {
                        using (writer.PushSequence(Context0))
                        {
                            writer.WriteOctetString(encapsulatedContent);
                        }
                    }
                }

                if (!certificates.IsEmpty)
                {
                    writer.WriteEncodedValue(certificates);
                }

                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    writer.WriteInteger(1);
                    writer.WriteEncodedValue(signer.IssuerAndSerialNumber);
                    writer.WriteEncodedValue(digestAlgorithm);
                    WriteImplicitContext0(writer, signedAttributes);
                    writer.WriteEncodedValue(CmsAlgorithms.Signature(scheme, hash).Span);
                    writer.WriteOctetString(signature);
                    if (!signatureTimeStamp.IsEmpty)
                    {
                        using (writer.PushSetOf(Context1))
                        using (writer.PushSequence())
                        {
                            writer.WriteObjectIdentifier(CmsOids.SignatureTimeStampToken);
                            using (writer.PushSetOf())
                            {
                                writer.WriteEncodedValue(signatureTimeStamp);
                            }
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>
    /// SignedAttributes are signed as a SET OF (0x31) and carried as [0] IMPLICIT (RFC 5652 §5.4): the same length
    /// and contents under another tag byte.
    /// </summary>
    private static void WriteImplicitContext0(AsnWriter writer, ReadOnlySpan<byte> setOf)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(setOf.Length);
        try
        {
            setOf.CopyTo(buffer);
            buffer[0] = 0xA0;
            writer.WriteEncodedValue(buffer.AsSpan(0, setOf.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds, UTC.</summary>
    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        utc = utc.AddTicks(-(utc.Ticks % TimeSpan.TicksPerSecond));
        if (utc.Year is >= 1950 and < 2050)
        {
            writer.WriteUtcTime(utc);
        }
        else
        {
            writer.WriteGeneralizedTime(utc, omitFractionalSeconds: true);
        }
    }
}
