using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>What the credential lifecycle needs of the PKI: certificates per level, their chains, CRL publication.</summary>
public interface ICertificateAuthority
{
    Task<X509Certificate2> IssueAsync(
        CredentialLevel level, Pki.CertificateHolder holder, byte[] subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct);

    /// <summary>A seal level's certificate for an organisation (EN 319 412-3 subject, QcType eseal).</summary>
    Task<X509Certificate2> IssueSealAsync(
        CredentialLevel level, Pki.SealSubject subject, byte[] subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct);

    /// <summary>DER certificates from the level's issuing CA up to the root.</summary>
    IReadOnlyList<byte[]> Chain(CredentialLevel level);

    /// <summary>Regenerates and publishes the level's CRL from the store; returns once it is served.</summary>
    Task PublishCrlAsync(CredentialLevel level, CancellationToken ct);

    /// <summary>
    /// The store now records a revocation (REVOCATION_IN_PROGRESS): pre-produced OCSP answers read before it are
    /// not served again unchecked. Call it before the revoking call returns.
    /// </summary>
    void RevocationRecorded();
}
