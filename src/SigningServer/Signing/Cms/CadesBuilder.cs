using System.Buffers;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Builds detached CMS SignedData (RFC 5652) at CAdES baseline B-B, or B-T with a signature time-stamp, over a
/// document hash, for a signature the HSM makes in between: <see cref="Prepare"/> per hash gives the digest to sign,
/// the HSM signs the whole batch after one unwrap, <see cref="Complete"/> per hash assembles the ContentInfo.
/// </summary>
/// <remarks>
/// One builder per signer certificate (and chain): everything that depends only on the certificate — the
/// signing-certificate-v2 attribute, the signer identifier, the certificate set, the key size — is encoded once in
/// the constructor, so a batch pays for it once. Instances are immutable and thread-safe.
/// Encoded with AsnWriter rather than SignedCms: SignedCms.ComputeSignature wants the private key in process and
/// re-encodes the whole message per call; here the signature comes from outside and the structure is fixed.
/// </remarks>
public sealed class CadesBuilder
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context1 = new(TagClass.ContextSpecific, 1, isConstructed: true);

    private readonly KeyKind _keyKind;
    private readonly int _keyBytes;
    private readonly byte[] _signingCertificateV2;
    private readonly byte[] _signerIdentifier;
    private readonly byte[] _certificateSet;

    /// <param name="signer">The signer certificate (public only; its key is in the HSM).</param>
    /// <param name="extraCertificates">
    /// Further certificates to embed, at least the issuing CA so a verifier can build the path; the root is optional.
    /// The signer certificate is always embedded, and not twice if it is also in this list.
    /// </param>
    public CadesBuilder(X509Certificate2 signer, IReadOnlyList<X509Certificate2> extraCertificates)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(extraCertificates);

        (_keyKind, _keyBytes) = ReadKey(signer);
        Certificate = signer;
        _signingCertificateV2 = SigningCertificateV2Attribute(signer);
        _signerIdentifier = IssuerAndSerialNumber(signer);
        _certificateSet = CertificateSet(signer, extraCertificates);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// Step 1: the signed attributes for one document hash, in DER SET order: content-type (id-data),
    /// message-digest (the document hash), signing-certificate-v2 (RFC 5035) and, for <see cref="CmsProfile.Cades"/>
    /// only, signing-time. The digest to sign uses the document hash algorithm.
    /// </summary>
    /// <param name="hash">SHA-256, SHA-384 or SHA-512.</param>
    /// <param name="documentHash">The hash of the document, exactly as long as <paramref name="hash"/>'s output.</param>
    /// <param name="profile">CAdES, or PAdES (no signing-time).</param>
    /// <param name="signingTime">Claimed signing time, truncated to whole seconds; ignored for PAdES.</param>
    /// <exception cref="ArgumentException">Unsupported hash algorithm or wrong hash length.</exception>
    public CadesSignedAttributes Prepare(HashAlgorithmName hash, ReadOnlySpan<byte> documentHash, CmsProfile profile,
        DateTimeOffset signingTime)
    {
        var hashLength = HashLength(hash);
        if (documentHash.Length != hashLength)
        {
            throw new ArgumentException(
                $"a {hash.Name} document hash is {hashLength} bytes, not {documentHash.Length}", nameof(documentHash));
        }

        if (profile is not CmsProfile.Cades and not CmsProfile.Pades)
        {
            throw new ArgumentException($"unknown CMS profile {profile}", nameof(profile));
        }

        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 256 + _signingCertificateV2.Length);
        // DER sorts the SET OF by encoding when it is popped: the order of the writes below does not matter.
        using (writer.PushSetOf())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(CmsOids.ContentType);
                using (writer.PushSetOf())
                {
                    writer.WriteObjectIdentifier(CmsOids.Data);
                }
            }

            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(CmsOids.MessageDigest);
                using (writer.PushSetOf())
                {
                    writer.WriteOctetString(documentHash);
                }
            }

            if (profile == CmsProfile.Cades)
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

            writer.WriteEncodedValue(_signingCertificateV2);
        }

        var der = writer.Encode();
        return new CadesSignedAttributes(this, hash, der, CryptographicOperations.HashData(hash, der));
    }

    /// <summary>
    /// Step 2: the DER ContentInfo of the detached SignedData, with <paramref name="signatureValue"/> over
    /// <see cref="CadesSignedAttributes.DigestToSign"/> and, when <paramref name="timestampToken"/> is not empty,
    /// the signature-time-stamp unsigned attribute (CAdES-B-T).
    /// </summary>
    /// <param name="attributes">What <see cref="Prepare"/> of this builder returned.</param>
    /// <param name="scheme">How the HSM signed; must fit the certificate's key.</param>
    /// <param name="signatureValue">
    /// For ECDSA the DER Ecdsa-Sig-Value (convert an r||s value with <see cref="EcdsaSignatureToDer"/>); for RSA the
    /// signature, as long as the modulus.
    /// </param>
    /// <param name="timestampToken">
    /// Empty, or an RFC 3161 TimeStampToken (DER ContentInfo of SignedData) over
    /// <see cref="SignatureTimeStampImprint"/> of <paramref name="signatureValue"/>.
    /// </param>
    /// <exception cref="ArgumentException">The inputs do not fit together.</exception>
    public byte[] Complete(CadesSignedAttributes attributes, CmsSignatureScheme scheme, ReadOnlySpan<byte> signatureValue,
        ReadOnlySpan<byte> timestampToken)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        if (!ReferenceEquals(attributes.Builder, this))
        {
            throw new ArgumentException("the signed attributes were prepared for another signer", nameof(attributes));
        }

        CheckSignature(scheme, signatureValue);
        if (!timestampToken.IsEmpty)
        {
            CheckTimestampToken(timestampToken);
        }

        var signedAttributes = attributes.Der.Span;
        var writer = new AsnWriter(AsnEncodingRules.DER,
            initialCapacity: _certificateSet.Length + signedAttributes.Length + signatureValue.Length
                + timestampToken.Length + 256);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(CmsOids.SignedData);
            using (writer.PushSequence(Context0))
            using (writer.PushSequence())
            {
                // Version 1: id-data content, issuerAndSerialNumber signer, only X.509 certificates (RFC 5652 §5.1).
                writer.WriteInteger(1);
                using (writer.PushSetOf())
                {
                    WriteDigestAlgorithm(writer, attributes.Hash);
                }

                // Detached: encapContentInfo without eContent.
                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(CmsOids.Data);
                }

                writer.WriteEncodedValue(_certificateSet);
                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    writer.WriteInteger(1);
                    writer.WriteEncodedValue(_signerIdentifier);
                    WriteDigestAlgorithm(writer, attributes.Hash);
                    WriteImplicitContext0(writer, signedAttributes);
                    WriteSignatureAlgorithm(writer, scheme, attributes.Hash);
                    writer.WriteOctetString(signatureValue);
                    if (!timestampToken.IsEmpty)
                    {
                        using (writer.PushSetOf(Context1))
                        using (writer.PushSequence())
                        {
                            writer.WriteObjectIdentifier(CmsOids.SignatureTimeStampToken);
                            using (writer.PushSetOf())
                            {
                                writer.WriteEncodedValue(timestampToken);
                            }
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>
    /// The messageImprint a TSA must stamp for the signature-time-stamp (ETSI EN 319 122-1 §5.3, RFC 3161
    /// appendix A): the hash of the SignerInfo's signature value, the contents of its OCTET STRING without tag and
    /// length.
    /// </summary>
    public static byte[] SignatureTimeStampImprint(HashAlgorithmName timestampHash, ReadOnlySpan<byte> signatureValue)
    {
        HashLength(timestampHash);
        return CryptographicOperations.HashData(timestampHash, signatureValue);
    }

    /// <summary>
    /// Converts an ECDSA signature from IEEE P1363 r||s (what PKCS#11 CKM_ECDSA returns) to the DER Ecdsa-Sig-Value
    /// that CMS carries (RFC 5753 §2.1.1).
    /// </summary>
    public static byte[] EcdsaSignatureToDer(ReadOnlySpan<byte> ieeeP1363)
    {
        if (ieeeP1363.IsEmpty || ieeeP1363.Length % 2 != 0)
        {
            throw new ArgumentException("an r||s ECDSA signature has an even, non-zero length", nameof(ieeeP1363));
        }

        var half = ieeeP1363.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: ieeeP1363.Length + 9);
        using (writer.PushSequence())
        {
            writer.WriteIntegerUnsigned(Minimal(ieeeP1363[..half]));
            writer.WriteIntegerUnsigned(Minimal(ieeeP1363[half..]));
        }

        return writer.Encode();

        // r and s are fixed-width: DER wants them without leading zero bytes (1 in 256 for P-256, most for P-521).
        static ReadOnlySpan<byte> Minimal(ReadOnlySpan<byte> unsigned)
        {
            var start = 0;
            while (start < unsigned.Length - 1 && unsigned[start] == 0)
            {
                start++;
            }

            return unsigned[start..];
        }
    }

    private void CheckSignature(CmsSignatureScheme scheme, ReadOnlySpan<byte> signatureValue)
    {
        var fits = scheme switch
        {
            CmsSignatureScheme.Ecdsa => _keyKind == KeyKind.Ec,
            CmsSignatureScheme.RsaPkcs1 or CmsSignatureScheme.RsaPss => _keyKind == KeyKind.Rsa,
            _ => throw new ArgumentException($"unknown signature scheme {scheme}", nameof(scheme)),
        };
        if (!fits)
        {
            throw new ArgumentException($"a {scheme} signature does not fit the signer's {_keyKind} key", nameof(scheme));
        }

        if (_keyKind == KeyKind.Rsa)
        {
            if (signatureValue.Length != _keyBytes)
            {
                throw new ArgumentException(
                    $"an RSA signature of this key is {_keyBytes} bytes, not {signatureValue.Length}", nameof(signatureValue));
            }

            return;
        }

        if (!IsEcdsaSigValue(signatureValue, _keyBytes))
        {
            throw new ArgumentException(
                "the ECDSA signature is not a DER Ecdsa-Sig-Value of this curve (r||s must be converted first)",
                nameof(signatureValue));
        }
    }

    /// <summary>SEQUENCE { r INTEGER, s INTEGER }, both positive and no longer than the curve order.</summary>
    private static bool IsEcdsaSigValue(ReadOnlySpan<byte> value, int orderBytes)
    {
        try
        {
            AsnDecoder.ReadSequence(value, AsnEncodingRules.DER, out var contentOffset, out var contentLength,
                out var consumed);
            if (consumed != value.Length)
            {
                return false;
            }

            var content = value.Slice(contentOffset, contentLength);
            for (var i = 0; i < 2; i++)
            {
                var integer = AsnDecoder.ReadIntegerBytes(content, AsnEncodingRules.DER, out var read);
                content = content[read..];
                var magnitude = integer[0] == 0 ? integer[1..] : integer;
                if ((integer[0] & 0x80) != 0 || magnitude.IsEmpty || magnitude.Length > orderBytes
                    || (magnitude.Length == 1 && magnitude[0] == 0))
                {
                    return false;
                }
            }

            return content.IsEmpty;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    /// <summary>One DER ContentInfo whose content type is signedData, nothing after it.</summary>
    private static void CheckTimestampToken(ReadOnlySpan<byte> timestampToken)
    {
        try
        {
            AsnDecoder.ReadSequence(timestampToken, AsnEncodingRules.DER, out var contentOffset, out var contentLength, out var consumed);
            if (consumed == timestampToken.Length
                && AsnDecoder.ReadObjectIdentifier(timestampToken.Slice(contentOffset, contentLength), AsnEncodingRules.DER, out _)
                    == CmsOids.SignedData)
            {
                return;
            }
        }
        catch (AsnContentException)
        {
            // Reported below, like any other malformed token.
        }

        throw new ArgumentException("the time-stamp token is not one DER ContentInfo of SignedData", nameof(timestampToken));
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

    /// <summary>Digest AlgorithmIdentifier with absent parameters (RFC 5754 §2).</summary>
    private static void WriteDigestAlgorithm(AsnWriter writer, HashAlgorithmName hash)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(CmsOids.Digest(hash));
        }
    }

    private static void WriteSignatureAlgorithm(AsnWriter writer, CmsSignatureScheme scheme, HashAlgorithmName hash)
    {
        using (writer.PushSequence())
        {
            switch (scheme)
            {
                case CmsSignatureScheme.Ecdsa:
                    // Parameters absent (RFC 5758 §3.2).
                    writer.WriteObjectIdentifier(CmsOids.EcdsaWith(hash));
                    break;
                case CmsSignatureScheme.RsaPkcs1:
                    // Parameters NULL (RFC 4055 §5).
                    writer.WriteObjectIdentifier(CmsOids.RsaPkcs1With(hash));
                    writer.WriteNull();
                    break;
                default:
                    writer.WriteObjectIdentifier(CmsOids.RsaPss);
                    WritePssParameters(writer, hash);
                    break;
            }
        }
    }

    /// <summary>
    /// RSASSA-PSS-params (RFC 4055 §3.1): the hash, MGF1 with the same hash, salt as long as the hash; trailerField
    /// is the DEFAULT and so omitted. Hash identifiers inside carry NULL parameters, as RFC 4055's sha256Identifier.
    /// </summary>
    private static void WritePssParameters(AsnWriter writer, HashAlgorithmName hash)
    {
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                WriteHashIdentifierWithNull(writer, hash);
            }

            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(CmsOids.Mgf1);
                WriteHashIdentifierWithNull(writer, hash);
            }

            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
            {
                writer.WriteInteger(HashLength(hash));
            }
        }
    }

    private static void WriteHashIdentifierWithNull(AsnWriter writer, HashAlgorithmName hash)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(CmsOids.Digest(hash));
            writer.WriteNull();
        }
    }

    private static int HashLength(HashAlgorithmName hash)
    {
        if (hash == HashAlgorithmName.SHA256)
        {
            return 32;
        }

        if (hash == HashAlgorithmName.SHA384)
        {
            return 48;
        }

        if (hash == HashAlgorithmName.SHA512)
        {
            return 64;
        }

        throw new ArgumentException($"hash algorithm '{hash.Name}' is not SHA-256, SHA-384 or SHA-512", nameof(hash));
    }

    private static (KeyKind Kind, int Bytes) ReadKey(X509Certificate2 signer)
    {
        switch (signer.PublicKey.Oid.Value)
        {
            case CmsOids.EcPublicKey:
                using (var ec = signer.GetECDsaPublicKey())
                {
                    return (KeyKind.Ec, (ec!.KeySize + 7) / 8);
                }

            case CmsOids.RsaEncryption:
                using (var rsa = signer.GetRSAPublicKey())
                {
                    return (KeyKind.Rsa, (rsa!.KeySize + 7) / 8);
                }

            default:
                throw new ArgumentException(
                    $"the signer key algorithm {signer.PublicKey.Oid.Value} is neither EC nor RSA", nameof(signer));
        }
    }

    /// <summary>
    /// signing-certificate-v2 attribute (RFC 5035): one ESSCertIDv2 with the SHA-256 certificate hash
    /// (hashAlgorithm omitted: SHA-256 is the DEFAULT) and issuerSerial, which ties the signature to this
    /// certificate even if the CA certifies the same key again (the substitution attack ESS guards against).
    /// </summary>
    private static byte[] SigningCertificateV2Attribute(X509Certificate2 certificate)
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
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true)))
                    {
                        writer.WriteEncodedValue(certificate.IssuerName.RawData);
                    }

                    writer.WriteInteger(certificate.SerialNumberBytes.Span);
                }
            }
        }

        return writer.Encode();
    }

    private static byte[] IssuerAndSerialNumber(X509Certificate2 certificate)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(certificate.IssuerName.RawData);
            writer.WriteInteger(certificate.SerialNumberBytes.Span);
        }

        return writer.Encode();
    }

    /// <summary>certificates [0] IMPLICIT CertificateSet: the signer plus the extra certificates, each once.</summary>
    private static byte[] CertificateSet(X509Certificate2 signer, IReadOnlyList<X509Certificate2> extra)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { signer.Thumbprint };
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: signer.RawData.Length * (extra.Count + 1) + 16);
        using (writer.PushSetOf(Context0))
        {
            writer.WriteEncodedValue(signer.RawData);
            foreach (var certificate in extra)
            {
                ArgumentNullException.ThrowIfNull(certificate, nameof(extra));
                if (seen.Add(certificate.Thumbprint))
                {
                    writer.WriteEncodedValue(certificate.RawData);
                }
            }
        }

        return writer.Encode();
    }

    private enum KeyKind
    {
        Ec,
        Rsa,
    }
}
