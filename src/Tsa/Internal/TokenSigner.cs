using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa.Internal;

/// <summary>
/// Wraps a TSTInfo in CMS SignedData (RFC 5652 §5, RFC 3161 §2.4.2) and signs it with the TSA key.
/// </summary>
/// <remarks>
/// Encoded with AsnWriter rather than SignedCms: SignedCms.ComputeSignature costs several times the P-256
/// signature itself (it re-encodes and re-decodes the whole message per call), which would cap the TSA far below the
/// HSM's sign rate. The structure is fixed — one signer, three signed attributes, optional certificates — so
/// everything but the TSTInfo, the digest and the signature is encoded once here. The key is still only used
/// through <see cref="ECDsa.SignHash(byte[])"/> / <see cref="RSA.SignHash(byte[], HashAlgorithmName, RSASignaturePadding)"/>,
/// so an HSM-backed subclass works unchanged. Tests decode every token with SignedCms, .NET's RFC 3161 reader and
/// openssl.
/// </remarks>
internal sealed class TokenSigner
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);

    private readonly AsymmetricAlgorithm _key;
    private readonly Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask<byte[]>>? _signHashAsync;
    private readonly X509Certificate2 _certificate;
    private volatile bool _asyncSignatureChecked;
    private readonly HashAlgorithmName _hash;
    private readonly RSASignaturePadding? _rsaPadding;
    private readonly byte[] _digestAlgorithm;
    private readonly byte[] _signatureAlgorithm;
    private readonly byte[] _signerIdentifier;
    private readonly byte[] _contentTypeAttribute;
    private readonly byte[] _signingCertificateAttribute;
    private readonly byte[] _endCertOnly;
    private readonly byte[] _withChain;
    private readonly bool _includeChain;

    public TokenSigner(TsaSigner signer, TsaOptions options)
    {
        _key = signer.Key;
        _signHashAsync = signer.SignHashAsync;
        _certificate = signer.Certificate;
        _hash = options.SignatureHash;
        _rsaPadding = signer.Key is RSA ? options.RsaPadding ?? RSASignaturePadding.Pss : null;
        _digestAlgorithm = AlgorithmIds.Digest(_hash);
        _signatureAlgorithm = signer.Key is RSA
            ? AlgorithmIds.Rsa(_hash, _rsaPadding!)
            : AlgorithmIds.Ecdsa(_hash);
        _signerIdentifier = IssuerAndSerialNumber(signer.Certificate);
        _contentTypeAttribute = Attribute(Oids.ContentType, w => w.WriteObjectIdentifier(Oids.TstInfo));
        _signingCertificateAttribute = Attribute(Oids.SigningCertificateV2, w => w.WriteEncodedValue(signer.SigningCertificateV2));
        _endCertOnly = Certificates([signer.Certificate]);
        _withChain = Certificates([signer.Certificate, .. signer.Chain]);
        _includeChain = options.IncludeChain;
    }

    public byte[] Sign(byte[] tstInfo, bool includeCertificates)
    {
        var signedAttributes = EncodeSignedAttributes(CryptographicOperations.HashData(_hash, tstInfo));
        var signature = SignAttributes(signedAttributes);
        return Assemble(tstInfo, signedAttributes, signature, includeCertificates);
    }

    /// <summary>
    /// As <see cref="Sign"/>, through <see cref="TsaSigner.SignHashAsync"/> when the signer has one (else the
    /// synchronous key, completing at once).
    /// </summary>
    public async ValueTask<byte[]> SignAsync(byte[] tstInfo, bool includeCertificates, CancellationToken ct)
    {
        if (_signHashAsync is null)
        {
            return Sign(tstInfo, includeCertificates);
        }

        var signedAttributes = EncodeSignedAttributes(CryptographicOperations.HashData(_hash, tstInfo));
        var digest = CryptographicOperations.HashData(_hash, signedAttributes);
        var signature = await _signHashAsync(digest, ct).ConfigureAwait(false);
        if (!_asyncSignatureChecked)
        {
            CheckAsyncSignature(digest, signature);
            _asyncSignatureChecked = true;
        }

        return Assemble(tstInfo, signedAttributes, signature, includeCertificates);
    }

    /// <summary>The asynchronous signer is a separate delegate: its first signature must verify with the certificate.</summary>
    private void CheckAsyncSignature(byte[] digest, byte[] signature)
    {
        bool valid;
        if (_key is RSA)
        {
            using var rsa = _certificate.GetRSAPublicKey();
            valid = rsa is not null && rsa.VerifyHash(digest, signature, _hash, _rsaPadding!);
        }
        else
        {
            using var ec = _certificate.GetECDsaPublicKey();
            valid = ec is not null && ec.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence);
        }

        if (!valid)
        {
            throw new CryptographicException(
                "the asynchronous TSA signer's signature does not verify with the TSA certificate (wrong key or encoding)");
        }
    }

    private byte[] Assemble(byte[] tstInfo, byte[] signedAttributes, byte[] signature, bool includeCertificates)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: tstInfo.Length + 1024);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(Oids.SignedData);
            using (writer.PushSequence(Context0))
            using (writer.PushSequence())
            {
                // Version 3: eContentType is not id-data (RFC 5652 §5.1).
                writer.WriteInteger(3);
                using (writer.PushSetOf())
                {
                    writer.WriteEncodedValue(_digestAlgorithm);
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(Oids.TstInfo);
                    using (writer.PushSequence(Context0))
                    {
                        writer.WriteOctetString(tstInfo);
                    }
                }

                if (includeCertificates)
                {
                    writer.WriteEncodedValue(_includeChain ? _withChain : _endCertOnly);
                }

                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    writer.WriteInteger(1); // SignerInfo version 1: sid is issuerAndSerialNumber
                    writer.WriteEncodedValue(_signerIdentifier);
                    writer.WriteEncodedValue(_digestAlgorithm);

                    // Signed as SET OF (tag 0x31), carried as [0] IMPLICIT (RFC 5652 §5.4): same content octets.
                    signedAttributes[0] = 0xA0;
                    writer.WriteEncodedValue(signedAttributes);
                    writer.WriteEncodedValue(_signatureAlgorithm);
                    writer.WriteOctetString(signature);
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>content-type, message-digest, signing-certificate-v2 as a DER SET OF (sorted by the writer).</summary>
    private byte[] EncodeSignedAttributes(byte[] messageDigest)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 512);
        using (writer.PushSetOf())
        {
            writer.WriteEncodedValue(_contentTypeAttribute);
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(Oids.MessageDigest);
                using (writer.PushSetOf())
                {
                    writer.WriteOctetString(messageDigest);
                }
            }

            writer.WriteEncodedValue(_signingCertificateAttribute);
        }

        return writer.Encode();
    }

    private byte[] SignAttributes(byte[] signedAttributes)
    {
        var digest = CryptographicOperations.HashData(_hash, signedAttributes);
        return _key switch
        {
            ECDsa ecdsa => ecdsa.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence),
            RSA rsa => rsa.SignHash(digest, _hash, _rsaPadding!),
            _ => throw new CryptographicException("unsupported TSA key type"),
        };
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

    private static byte[] Attribute(string oid, Action<AsnWriter> writeValue)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            using (writer.PushSetOf())
            {
                writeValue(writer);
            }
        }

        return writer.Encode();
    }

    /// <summary>certificates [0] IMPLICIT CertificateSet.</summary>
    private static byte[] Certificates(IEnumerable<X509Certificate2> certificates)
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
