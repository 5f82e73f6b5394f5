using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa;

/// <summary>Outcome of <see cref="TimeStampVerifier.Verify"/>.</summary>
/// <param name="Error">Why verification failed; null when valid.</param>
public sealed record TimeStampVerification(
    bool IsValid,
    string? Error,
    Rfc3161TimestampTokenInfo? TokenInfo,
    X509Certificate2? SignerCertificate);

/// <summary>
/// Checks a token the way a relying party would, on .NET's own RFC 3161 code (independent of our encoder):
/// decode, imprint, CMS signature with the signing-certificate attribute, and optionally the chain at genTime.
/// Revocation is not checked: long-term validation (CRLs/OCSP at genTime) belongs to the caller's policy.
/// </summary>
public static class TimeStampVerifier
{
    /// <param name="token">A TimeStampToken (CMS ContentInfo), e.g. <see cref="TsaResult.Token"/>.</param>
    /// <param name="digest">The digest that was stamped.</param>
    /// <param name="extraCertificates">Candidates for the signer when the token carries no certificate.</param>
    /// <param name="trustedRoots">When given, the signer must chain to one of them at genTime.</param>
    public static TimeStampVerification Verify(
        ReadOnlyMemory<byte> token,
        ReadOnlySpan<byte> digest,
        HashAlgorithmName hashAlgorithm,
        X509Certificate2Collection? extraCertificates = null,
        X509Certificate2Collection? trustedRoots = null)
    {
        if (!Rfc3161TimestampToken.TryDecode(token, out var decoded, out var consumed) || consumed != token.Length)
        {
            return new(false, "not a time-stamp token", null, null);
        }

        if (!decoded.VerifySignatureForHash(digest, hashAlgorithm, out var signer, extraCertificates))
        {
            return new(false, "signature, imprint or signing certificate does not match", decoded.TokenInfo, null);
        }

        if (trustedRoots is not null && !ChainsTo(signer, trustedRoots, decoded, extraCertificates))
        {
            return new(false, "the TSA certificate does not chain to a trusted root at genTime", decoded.TokenInfo, signer);
        }

        return new(true, null, decoded.TokenInfo, signer);
    }

    private static bool ChainsTo(X509Certificate2 signer, X509Certificate2Collection roots,
        Rfc3161TimestampToken token, X509Certificate2Collection? extra)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = token.TokenInfo.Timestamp.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(Internal.Oids.TimeStampingEku, null));
        chain.ChainPolicy.ExtraStore.AddRange(token.AsSignedCms().Certificates);
        if (extra is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(extra);
        }

        return chain.Build(signer);
    }
}
