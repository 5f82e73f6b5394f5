using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Cms;
using DTrust.Tsa.Internal;

namespace DTrust.Tsa;

/// <summary>
/// The TSA certificate and the key that signs for it. The key is any <see cref="ECDsa"/> or <see cref="RSA"/>,
/// including an HSM-backed subclass whose SignHash calls the token; the certificate needs no private key.
/// </summary>
public sealed class TsaSigner
{
    public TsaSigner(X509Certificate2 certificate, AsymmetricAlgorithm key, X509Certificate2Collection? chain = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(key);
        if (key is not ECDsa and not RSA)
        {
            throw new ArgumentException("the TSA key must be ECDsa or RSA", nameof(key));
        }

        CheckTimeStampingUsage(certificate);
        CheckKeyMatches(certificate, key);
        Certificate = certificate;
        Key = key;
        Chain = chain ?? [];
        Identity = new CmsSignerIdentity(certificate, Chain);
        NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The key <see cref="TimeStampAuthority.Respond"/> signs with, and what picks the signature algorithm.</summary>
    public AsymmetricAlgorithm Key { get; }

    /// <summary>
    /// Optional asynchronous signature over the same key, used by <see cref="TimeStampAuthority.RespondAsync"/> and
    /// <see cref="TimeStampAuthority.TimestampAsync"/> (without it they sign through <see cref="Key"/>). For an HSM
    /// key whose session pool may be busy: the caller awaits a session instead of blocking a thread.
    /// </summary>
    /// <remarks>
    /// It receives the <see cref="TsaOptions.SignatureHash"/> digest of the DER signed attributes and returns the
    /// signature value as it goes into the SignerInfo: for an ECDSA key the DER ECDSA-Sig-Value (SEQUENCE { r, s });
    /// for an RSA key the RSASSA signature with <see cref="TsaOptions.RsaPadding"/> (PSS unless set: MGF1 with the
    /// same hash, salt as long as the hash). The first signature it makes is verified against the certificate, and
    /// a mismatch (another key, another encoding) is a systemFailure, never a token.
    /// </remarks>
    public Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask<byte[]>>? SignHashAsync { get; init; }

    /// <summary>Issuing certificates (without the TSA certificate), included when the options ask for the chain.</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>What the certificate contributes to every token (signer id, signing-certificate-v2, certificate sets), encoded once.</summary>
    internal CmsSignerIdentity Identity { get; }

    internal DateTimeOffset NotBefore { get; }

    internal DateTimeOffset NotAfter { get; }

    /// <summary>RFC 3161 §2.3: exactly one extended key usage, id-kp-timeStamping, and the extension critical.</summary>
    private static void CheckTimeStampingUsage(X509Certificate2 certificate)
    {
        var eku = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SingleOrDefault();
        if (eku is null || !eku.Critical || eku.EnhancedKeyUsages.Count != 1
            || eku.EnhancedKeyUsages[0].Value != Oids.TimeStampingEku)
        {
            throw new ArgumentException(
                "the TSA certificate needs a critical extended key usage of id-kp-timeStamping only (RFC 3161 §2.3)",
                nameof(certificate));
        }
    }

    /// <summary>
    /// Signs once and verifies with the certificate's public key: works for HSM keys that cannot export anything
    /// and stops a server from issuing tokens nobody can verify.
    /// </summary>
    private static void CheckKeyMatches(X509Certificate2 certificate, AsymmetricAlgorithm key)
    {
        var probe = SHA256.HashData("DTrust TSA key check"u8);
        bool matches;
        switch (key)
        {
            case ECDsa ecdsa:
                using (var pub = certificate.GetECDsaPublicKey())
                {
                    matches = pub is not null && pub.VerifyHash(probe, ecdsa.SignHash(probe));
                }

                break;
            case RSA rsa:
                using (var pub = certificate.GetRSAPublicKey())
                {
                    var padding = RSASignaturePadding.Pss;
                    matches = pub is not null
                        && pub.VerifyHash(probe, rsa.SignHash(probe, HashAlgorithmName.SHA256, padding),
                            HashAlgorithmName.SHA256, padding);
                }

                break;
            default:
                matches = false;
                break;
        }

        if (!matches)
        {
            throw new ArgumentException("the key does not match the TSA certificate's public key", nameof(key));
        }
    }
}
