using DTrust.Pki;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>The validation data of a credential, as DER: certificates, OCSP responses, CRLs.</summary>
public sealed record ValidationBundle(IReadOnlyList<byte[]> Certificates, IReadOnlyList<byte[]> OcspResponses, IReadOnlyList<byte[]> Crls);

/// <summary>
/// What a signature needs to stay verifiable without us (B-LT): the same data a verifier would fetch from the AIA and
/// CDP URLs, gathered in one call. The OCSP answers come from the responder itself (pre-produced and cached there), so
/// this costs no HSM signature per call; the CRL is the one published. Tenant-scoped like every credential read.
/// </summary>
public sealed class ValidationDataService(
    CredentialRegistry registry, ICertificateAuthority ca, IssuingCas cas, OcspResponder ocsp, CrlPublisher crls, RootCrl root, TsaIdentity tsa)
{
    public async Task<ValidationBundle> ForAsync(CallerRecord partner, string credentialId, CancellationToken ct)
    {
        var credential = await registry.GetAsync(partner, credentialId, ct);
        var certificates = new List<byte[]>();
        void Add(byte[] der)
        {
            if (!certificates.Any(c => c.AsSpan().SequenceEqual(der)))
            {
                certificates.Add(der);
            }
        }

        Add(credential.Certificate);
        foreach (var der in ca.Chain(credential.Level))
        {
            Add(der);
        }

        Add(tsa.Certificate.RawData);
        foreach (var c in tsa.Chain)
        {
            Add(c.RawData);
        }

        var issuer = cas[credential.Level];
        var responses = new List<byte[]> { await ocsp.RespondForAsync(issuer.Certificate, Convert.FromHexString(credential.SerialHex), ct) };

        // The TSA's certificate has an OCSP answer only when one of the issuing CAs (not the root) certified it.
        if (cas.All.FirstOrDefault(c => c.Certificate.SubjectName.RawData.AsSpan().SequenceEqual(tsa.Certificate.IssuerName.RawData)) is { } tsaIssuer)
        {
            responses.Add(await ocsp.RespondForAsync(tsaIssuer.Certificate, tsa.Certificate.SerialNumberBytes.ToArray(), ct));
        }

        // The root's CRL covers the CA and TSA certificates it issued.
        var lists = new List<byte[]> { await crls.GetCurrentAsync(credential.Level, ct) };
        if (root.Current() is { } rootList)
        {
            lists.Add(rootList);
        }

        return new ValidationBundle(certificates, responses, lists);
    }
}
