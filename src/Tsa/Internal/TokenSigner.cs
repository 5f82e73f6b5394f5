using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using DTrust.Cms;

namespace DTrust.Tsa.Internal;

/// <summary>
/// Wraps a TSTInfo in CMS SignedData (RFC 5652 §5, RFC 3161 §2.4.2) and signs it with the TSA key.
/// </summary>
/// <remarks>
/// Encoded with AsnWriter rather than SignedCms: SignedCms.ComputeSignature costs several times the P-256
/// signature itself (it re-encodes and re-decodes the whole message per call), which would cap the TSA far below the
/// HSM's sign rate. The structure is fixed — one signer, three signed attributes, optional certificates — and is
/// written by the CMS library that also writes our CAdES signatures; what depends only on the TSA certificate is
/// encoded once in the signer's <see cref="CmsSignerIdentity"/>. The key is still only used
/// through <see cref="ECDsa.SignHash(byte[])"/> / <see cref="RSA.SignHash(byte[], HashAlgorithmName, RSASignaturePadding)"/>,
/// so an HSM-backed subclass works unchanged. Tests decode every token with SignedCms, .NET's RFC 3161 reader and
/// openssl.
/// </remarks>
internal sealed class TokenSigner
{
    private readonly AsymmetricAlgorithm _key;
    private readonly Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask<byte[]>>? _signHashAsync;
    private readonly X509Certificate2 _certificate;
    private volatile bool _asyncSignatureChecked;
    private readonly HashAlgorithmName _hash;
    private readonly RSASignaturePadding? _rsaPadding;
    private readonly CmsSignatureScheme _scheme;
    private readonly CmsSignerIdentity _identity;
    private readonly bool _includeChain;

    public TokenSigner(TsaSigner signer, TsaOptions options)
    {
        _key = signer.Key;
        _signHashAsync = signer.SignHashAsync;
        _certificate = signer.Certificate;
        _hash = options.SignatureHash;
        _rsaPadding = signer.Key is RSA ? options.RsaPadding ?? RSASignaturePadding.Pss : null;
        _scheme = signer.Key is not RSA ? CmsSignatureScheme.Ecdsa
            : _rsaPadding == RSASignaturePadding.Pkcs1 ? CmsSignatureScheme.RsaPkcs1 : CmsSignatureScheme.RsaPss;
        _identity = signer.Identity;
        _includeChain = options.IncludeChain;
    }

    public byte[] Sign(byte[] tstInfo, bool includeCertificates)
    {
        var signedAttributes = EncodeSignedAttributes(tstInfo);
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

        var signedAttributes = EncodeSignedAttributes(tstInfo);
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

    /// <summary>content-type id-ct-TSTInfo, message-digest of the TSTInfo, signing-certificate-v2.</summary>
    private byte[] EncodeSignedAttributes(byte[] tstInfo)
    {
        Span<byte> digest = stackalloc byte[64];
        var length = CryptographicOperations.HashData(_hash, tstInfo, digest);
        return SignedDataWriter.SignedAttributes(CmsAttributeProfile.TimeStampToken, _identity, digest[..length]);
    }

    private byte[] Assemble(byte[] tstInfo, byte[] signedAttributes, byte[] signature, bool includeCertificates) =>
        SignedDataWriter.ContentInfo(CmsAttributeProfile.TimeStampToken, _identity, _hash, _scheme, signedAttributes, signature,
            !includeCertificates ? default : _includeChain ? _identity.CertificatesWithChain : _identity.CertificateOnly,
            encapsulatedContent: tstInfo);

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
}
