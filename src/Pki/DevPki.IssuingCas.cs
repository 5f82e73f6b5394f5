using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki.Internal;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace DTrust.Pki;

/// <summary>
/// The issuing CA of each level and its OCSP responder. Both keys are token objects in the level's own token, so
/// an advanced CA key can never sign a qualified certificate. Production: the operator has the exported CSRs
/// (<c>pki/ca-{level}.csr.pem</c>, <c>pki/ocsp-{level}.csr.pem</c>) certified and configures the results.
/// Development: the root certifies the CAs, each CA its responder; reused while they match the HSM keys.
/// </summary>
public sealed partial class DevPki
{
    internal const string CaKeyLabel = "dtrust-ca";
    internal const string OcspKeyLabel = "dtrust-ocsp";

    /// <summary>Longer than the 10-year advanced certificates, so those are not clamped in their first years.</summary>
    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(15 * 365);

    private static readonly TimeSpan OcspLifetime = TimeSpan.FromDays(365);

    /// <summary>
    /// A responder certificate carries id-pkix-ocsp-nocheck, so it cannot be revoked in practice: keep it short and
    /// renew it well before it ends.
    /// </summary>
    private static readonly TimeSpan OcspRenewBefore = TimeSpan.FromDays(30);

    public IssuingCas EnsureIssuingCas(PkiOptions pki)
    {
        Directory.CreateDirectory(PkiDir);
        var cas = new Dictionary<CredentialLevel, IssuingCa>();
        var missing = new List<string>();
        foreach (var level in PkiLevels.All)
        {
            // Every level's CSR is written before a missing certificate stops the start, so that one start hands
            // the operator all of them (a new level, such as the seal CAs, needs no second try).
            if (EnsureIssuingCa(level, pki.Levels.GetValueOrDefault(PkiLevels.Name(level))) is { } ca)
            {
                cas[level] = ca;
            }
            else
            {
                missing.Add(PkiLevels.Name(level));
            }
        }

        return missing.Count == 0
            ? new IssuingCas(cas)
            : throw new InvalidOperationException(
                $"No CA certificate configured for {string.Join(", ", missing)} (DTrust:Pki:Levels:<level>:CaCertificatePath). " +
                $"Have {string.Join(", ", missing.Select(m => $"pki/ca-{m}.csr.pem"))} certified, or run in development mode.");
    }

    /// <summary>The level's CA as configured (or made in development); null when production has no certificate for it yet.</summary>
    private IssuingCa? EnsureIssuingCa(CredentialLevel level, IssuingCaCertificates? configured)
    {
        var name = PkiLevels.Name(level);
        var domain = vault.Domain(name);
        var caKey = domain.GetOrCreateSigningKey(CaKeyLabel, CaSigning.CaKeyAlgorithm);
        var ocspKey = domain.GetOrCreateSigningKey(OcspKeyLabel, CaSigning.OcspKeyAlgorithm);
        using var caAlg = caKey.CreateAlgorithm();
        using var ocspAlg = ocspKey.CreateAlgorithm();
        var caRequest = Profiles.CaRequest(CaName(level), caAlg, CaSigning.Hash(caKey.Algorithm));
        var ocspRequest = Profiles.OcspRequest(OcspName(level), ocspAlg, CaSigning.Hash(ocspKey.Algorithm));
        File.WriteAllText(Path.Combine(PkiDir, $"ca-{name}.csr.pem"), caRequest.CreateSigningRequestPem());
        File.WriteAllText(Path.Combine(PkiDir, $"ocsp-{name}.csr.pem"), ocspRequest.CreateSigningRequestPem());

        IssuingCa ca;
        if (!string.IsNullOrEmpty(configured?.CaCertificatePath))
        {
            ca = LoadConfigured(level, configured!, caKey, ocspKey, ocspRequest);
        }
        else if (setup.Development)
        {
            ca = MakeDevelopment(level, caKey, ocspKey, caRequest, ocspRequest);
        }
        else
        {
            return null;
        }

        File.WriteAllText(Path.Combine(PkiDir, $"ca-{name}.pem"), ca.Certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(PkiDir, $"ocsp-{name}.pem"), ca.OcspCertificate.ExportCertificatePem() + "\n");
        File.WriteAllText(
            Path.Combine(PkiDir, $"chain-{name}.pem"),
            string.Concat(ca.Chain.Select(c => c.ExportCertificatePem() + "\n")));
        return ca;
    }

    private IssuingCa LoadConfigured(
        CredentialLevel level, IssuingCaCertificates configured, HsmSigningKey caKey, HsmSigningKey ocspKey, CertificateRequest ocspRequest)
    {
        var name = PkiLevels.Name(level);
        var caCert = X509Certificate2.CreateFromPem(File.ReadAllText(configured.CaCertificatePath!));
        RequireMatch(caCert, caKey, $"configured {name} CA certificate");
        if (caCert.Extensions[Oids.BasicConstraints] is not X509BasicConstraintsExtension { CertificateAuthority: true }
            || caCert.Extensions[Oids.KeyUsage] is not X509KeyUsageExtension ku
            || !ku.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign)
            || !ku.KeyUsages.HasFlag(X509KeyUsageFlags.CrlSign))
        {
            throw new InvalidOperationException(
                $"The configured {name} CA certificate ({caCert.Subject}) is not a CA certificate with keyCertSign and cRLSign.");
        }

        // Without a configured responder certificate the CA key in the HSM issues one, as in development.
        var ocspCert = string.IsNullOrEmpty(configured.OcspCertificatePath)
            ? EnsureResponder(level, caCert, caKey, ocspKey, ocspRequest)
            : X509Certificate2.CreateFromPem(File.ReadAllText(configured.OcspCertificatePath));
        RequireMatch(ocspCert, ocspKey, $"configured {name} OCSP responder certificate");
        if (!SignedBy(ocspCert, caCert) || !HasOcspSigning(ocspCert))
        {
            throw new InvalidOperationException(
                $"The configured {name} OCSP responder certificate ({ocspCert.Subject}) is not issued by the {name} CA with the OCSPSigning purpose.");
        }

        var chain = new X509Certificate2Collection(caCert);
        if (!string.IsNullOrEmpty(configured.ChainPath))
        {
            chain.ImportFromPemFile(configured.ChainPath);
        }

        return new IssuingCa(level, caCert, caKey, ocspCert, ocspKey, chain);
    }

    private IssuingCa MakeDevelopment(
        CredentialLevel level,
        HsmSigningKey caKey,
        HsmSigningKey ocspKey,
        CertificateRequest caRequest,
        CertificateRequest ocspRequest)
    {
        var name = PkiLevels.Name(level);
        var root = EnsureRoot(out var rootKey);
        var now = time.GetUtcNow();

        var caPath = Path.Combine(PkiDir, $"ca-{name}.pem");
        var caCert = TryLoad(caPath);
        if (caCert is null || !Matches(caCert, caKey) || !SignedBy(caCert, root) || caCert.NotAfter.ToUniversalTime() <= now)
        {
            using var rootAlg = rootKey.CreateAlgorithm();
            caRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
            caCert = caRequest.Create(
                root.SubjectName, CaSigning.Generator(rootAlg), now.AddMinutes(-5), Min(now + CaLifetime, root.NotAfter), CaSigning.RandomSerial());
            PkiLog.CaCertificateIssued(log, level, caCert.Subject);
        }

        var ocspCert = EnsureResponder(level, caCert, caKey, ocspKey, ocspRequest);
        return new IssuingCa(level, caCert, caKey, ocspCert, ocspKey, [caCert, root]);
    }

    /// <summary>
    /// The delegated OCSP responder certificate, issued by the level's own CA key in the HSM (development and
    /// production alike: nobody else holds that key). Reused while it matches and is not near its end.
    /// </summary>
    private X509Certificate2 EnsureResponder(
        CredentialLevel level, X509Certificate2 caCert, HsmSigningKey caKey, HsmSigningKey ocspKey, CertificateRequest ocspRequest)
    {
        var now = time.GetUtcNow();
        var ocspCert = TryLoad(Path.Combine(PkiDir, $"ocsp-{PkiLevels.Name(level)}.pem"));
        if (ocspCert is null || !Matches(ocspCert, ocspKey) || !SignedBy(ocspCert, caCert)
            || ocspCert.NotAfter.ToUniversalTime() <= now + OcspRenewBefore)
        {
            using var caAlg = caKey.CreateAlgorithm();
            ocspRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCert, true, false));
            ocspCert = ocspRequest.Create(
                caCert.SubjectName, CaSigning.Generator(caAlg), now.AddMinutes(-5), Min(now + OcspLifetime, caCert.NotAfter), CaSigning.RandomSerial());
            PkiLog.OcspCertificateIssued(log, level, ocspCert.Subject);
        }

        return ocspCert;
    }

    private static X500DistinguishedName CaName(CredentialLevel level) =>
        new($"CN=DTrust Development {level} CA, O=DTrust (development only), C=DE");

    private static X500DistinguishedName OcspName(CredentialLevel level) =>
        new($"CN=DTrust Development {level} CA OCSP Responder, O=DTrust (development only), C=DE");

    /// <summary>
    /// Signature check against an issuer that need not be a trust anchor (X509Chain wants a self-signed root to
    /// trust, and an issuing CA is not one).
    /// </summary>
    internal static bool SignedBy(X509Certificate2 cert, X509Certificate2 issuer)
    {
        if (!cert.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
        {
            return false;
        }

        try
        {
            new BcCertificate(cert.RawData).Verify(new BcCertificate(issuer.RawData).GetPublicKey());
            return true;
        }
        catch (Org.BouncyCastle.Security.GeneralSecurityException)
        {
            return false;
        }
    }

    private static bool HasOcspSigning(X509Certificate2 cert) =>
        cert.Extensions[Oids.ExtendedKeyUsage] is X509EnhancedKeyUsageExtension eku
        && eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(o => o.Value == PkiOids.OcspSigning);

    private static class Oids
    {
        public const string BasicConstraints = "2.5.29.19";
        public const string KeyUsage = "2.5.29.15";
        public const string ExtendedKeyUsage = "2.5.29.37";
    }
}
