using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Credentials;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// The PKI as the credential lifecycle sees it: issue per level, the chain to hand out, CRL publication, and the
/// OCSP responder told of revocations.
/// </summary>
internal sealed class CertificateAuthority(CertificateIssuer issuer, CrlPublisher crls, IssuingCas cas, OcspResponder ocsp) : ICertificateAuthority
{
    public Task<X509Certificate2> IssueAsync(
        CredentialLevel level, CertificateHolder holder, byte[] subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct) =>
        issuer.IssueAsync(level, holder, subjectPublicKeyInfo, algorithm, ct);

    public Task<X509Certificate2> IssueSealAsync(
        CredentialLevel level, SealSubject subject, byte[] subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct) =>
        issuer.IssueSealAsync(level, subject, subjectPublicKeyInfo, algorithm, ct);

    public IReadOnlyList<byte[]> Chain(CredentialLevel level) => [.. cas[level].Chain.Select(c => c.RawData)];

    public Task PublishCrlAsync(CredentialLevel level, CancellationToken ct) => crls.PublishAsync(level, ct);

    public void RevocationRecorded() => ocsp.RevocationRecorded();
}
