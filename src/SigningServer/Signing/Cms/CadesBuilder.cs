using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using DTrust.Cms;

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
    private readonly KeyKind _keyKind;
    private readonly int _keyBytes;
    private readonly CmsSignerIdentity _identity;

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
        _identity = new CmsSignerIdentity(signer, extraCertificates);
    }

    public X509Certificate2 Certificate => _identity.Certificate;

    /// <summary>
    /// Step 1: the signed attributes for one document hash, in DER SET order: content-type (id-data),
    /// message-digest (the document hash), signing-certificate-v2 (RFC 5035) and, for <see cref="CmsAttributeProfile.Cades"/>
    /// only, signing-time. The digest to sign uses the document hash algorithm.
    /// </summary>
    /// <param name="hash">SHA-256, SHA-384 or SHA-512.</param>
    /// <param name="documentHash">The hash of the document, exactly as long as <paramref name="hash"/>'s output.</param>
    /// <param name="profile">CAdES, or PAdES (no signing-time).</param>
    /// <param name="signingTime">Claimed signing time, truncated to whole seconds; ignored for PAdES.</param>
    /// <exception cref="ArgumentException">Unsupported hash algorithm, wrong hash length, or a profile that does not sign data.</exception>
    public CadesSignedAttributes Prepare(HashAlgorithmName hash, ReadOnlySpan<byte> documentHash, CmsAttributeProfile profile,
        DateTimeOffset signingTime)
    {
        var hashLength = CmsOids.HashLength(hash);
        if (documentHash.Length != hashLength)
        {
            throw new ArgumentException(
                $"a {hash.Name} document hash is {hashLength} bytes, not {documentHash.Length}", nameof(documentHash));
        }

        ArgumentNullException.ThrowIfNull(profile);
        if (profile.ContentType != CmsOids.Data)
        {
            throw new ArgumentException($"the {profile.Name} profile does not sign data", nameof(profile));
        }

        var der = SignedDataWriter.SignedAttributes(profile, _identity, documentHash, signingTime);
        return new CadesSignedAttributes(this, profile, hash, der, CryptographicOperations.HashData(hash, der));
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

        return SignedDataWriter.ContentInfo(attributes.Profile, _identity, attributes.Hash, scheme, attributes.Der.Span, signatureValue,
            _identity.CertificatesWithChain, signatureTimeStamp: timestampToken);
    }

    /// <summary>
    /// The messageImprint a TSA must stamp for the signature-time-stamp (ETSI EN 319 122-1 §5.3, RFC 3161
    /// appendix A): the hash of the SignerInfo's signature value, the contents of its OCTET STRING without tag and
    /// length.
    /// </summary>
    public static byte[] SignatureTimeStampImprint(HashAlgorithmName timestampHash, ReadOnlySpan<byte> signatureValue)
    {
        CmsOids.HashLength(timestampHash);
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

    private enum KeyKind
    {
        Ec,
        Rsa,
    }
}
