using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki.Internal;
using DTrust.Tsa;

namespace DTrust.Pki;

/// <summary>The audit checkpoint key (in its own token) and its certificate, which verifiers check checkpoints with.</summary>
public sealed record AuditSigner(X509Certificate2 Certificate, HsmSigningKey Key);

/// <summary>The TSA's certificate, its HSM key (as a .NET algorithm and as the vault's handle) and the chain.</summary>
public sealed record TsaIdentity(X509Certificate2 Certificate, AsymmetricAlgorithm Key, X509Certificate2Collection Chain, HsmSigningKey HsmKey);

/// <summary>
/// Loads or makes the certificates the server signs under. Production: the operator configures a TSA certificate
/// issued for the CSR we export (<c>pki/tsa.csr.pem</c>). Development: a root CA whose key lives in the
/// <c>root</c> token certifies the TSA key of the <c>tsa</c> token; both are kept as PEM under <c>pki/</c> and
/// reused while they still match the keys in the HSM.
/// </summary>
public sealed partial class DevPki(HsmVault vault, PkiSetup setup, TimeProvider time, ILogger<DevPki> log)
{
    /// <summary>The key domain (token) of the development root; production roots stay offline.</summary>
    public const string RootDomain = "root";

    internal const string RootKeyLabel = "dtrust-root";
    internal const string TsaKeyLabel = "dtrust-tsa";

    private string PkiDir => setup.Directory;

    public TsaIdentity EnsureTsa()
    {
        Directory.CreateDirectory(PkiDir);
        var algorithm = setup.TsaKeyAlgorithm;

        // One label per algorithm: switching the configured algorithm makes a new key (and certificate), never
        // reinterprets an old one.
        var label = algorithm == KeyAlgorithm.EcP256 ? TsaKeyLabel : TsaKeyLabel + "-" + algorithm.ToString().ToLowerInvariant();
        var tsaKey = vault.Domain("tsa").GetOrCreateSigningKey(label, algorithm);
        var tsaAlg = tsaKey.CreateAlgorithm();
        var tsaRequest = NewTsaRequest(tsaAlg);
        File.WriteAllText(Path.Combine(PkiDir, "tsa.csr.pem"), tsaRequest.CreateSigningRequestPem());

        if (!string.IsNullOrEmpty(setup.TsaCertificatePath))
        {
            var configured = X509Certificate2.CreateFromPem(File.ReadAllText(setup.TsaCertificatePath));
            RequireMatch(configured, tsaKey, "configured TSA certificate");
            var chain = new X509Certificate2Collection();
            if (!string.IsNullOrEmpty(setup.TsaChainPath))
            {
                chain.ImportFromPemFile(setup.TsaChainPath);
            }

            return new TsaIdentity(configured, tsaAlg, chain, tsaKey);
        }

        if (!setup.Development)
        {
            throw new InvalidOperationException(
                "No TSA certificate configured (DTrust:Tsa:CertificatePath). Have pki/tsa.csr.pem certified, or run in development mode.");
        }

        var root = EnsureRoot(out var rootKey);
        var tsaPath = Path.Combine(PkiDir, "tsa.pem");
        var tsaCert = TryLoad(tsaPath);
        if (tsaCert is null || !Matches(tsaCert, tsaKey) || !IssuedBy(tsaCert, root))
        {
            var now = time.GetUtcNow();
            using var rootAlg = (ECDsa)rootKey.CreateAlgorithm();
            tsaRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
            tsaCert = tsaRequest.Create(
                root.SubjectName,
                X509SignatureGenerator.CreateForECDsa(rootAlg),
                now.AddMinutes(-5),
                Min(now.AddYears(10), root.NotAfter),
                CaSigning.RandomSerial());
            File.WriteAllText(tsaPath, tsaCert.ExportCertificatePem());
            PkiLog.TsaCertificateIssued(log, tsaCert.Subject);
        }

        File.WriteAllText(Path.Combine(PkiDir, "chain.pem"), root.ExportCertificatePem() + "\n");
        return new TsaIdentity(tsaCert, tsaAlg, [root], tsaKey);
    }

    /// <summary>The key domain (token) of the audit checkpoint key: apart from every signing key.</summary>
    public const string AuditDomain = "audit";

    /// <summary>
    /// The audit checkpoint key (EC P-256 in the audit token) and its certificate: configured (issued elsewhere for
    /// pki/audit.csr.pem), or in development issued by the dev root; null in production without one.
    /// </summary>
    public AuditSigner? EnsureAuditSigner(string? certificatePath)
    {
        Directory.CreateDirectory(PkiDir);
        var key = vault.Domain(AuditDomain).GetOrCreateSigningKey("dtrust-audit", KeyAlgorithm.EcP256);
        using var alg = (ECDsa)key.CreateAlgorithm();
        var request = new CertificateRequest(new X500DistinguishedName("CN=DTrust Audit Checkpoints, O=DTrust, C=DE"), alg, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        File.WriteAllText(Path.Combine(PkiDir, "audit.csr.pem"), request.CreateSigningRequestPem());
        if (!string.IsNullOrEmpty(certificatePath))
        {
            var configured = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
            RequireMatch(configured, key, "configured audit certificate");
            return new AuditSigner(configured, key);
        }

        if (!setup.Development)
        {
            return null;
        }

        var root = EnsureRoot(out var rootKey);
        var path = Path.Combine(PkiDir, "audit.pem");
        var certificate = TryLoad(path);
        if (certificate is null || !Matches(certificate, key) || !IssuedBy(certificate, root))
        {
            var now = time.GetUtcNow();
            using var rootAlg = (ECDsa)rootKey.CreateAlgorithm();
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
            certificate = request.Create(root.SubjectName, X509SignatureGenerator.CreateForECDsa(rootAlg), now.AddMinutes(-5),
                Min(now.AddYears(10), root.NotAfter), CaSigning.RandomSerial());
            File.WriteAllText(path, certificate.ExportCertificatePem());
        }

        return new AuditSigner(certificate, key);
    }

    internal X509Certificate2 EnsureRoot(out HsmSigningKey rootKey)
    {
        rootKey = vault.Domain(RootDomain).GetOrCreateSigningKey(RootKeyLabel, KeyAlgorithm.EcP384);
        var path = Path.Combine(PkiDir, "root.pem");
        var root = TryLoad(path);
        if (root is not null && Matches(root, rootKey))
        {
            return root;
        }

        var now = time.GetUtcNow();
        using var alg = (ECDsa)rootKey.CreateAlgorithm();
        var req = new CertificateRequest(
            new X500DistinguishedName("CN=DTrust Development Root CA, O=DTrust (development only), C=DE"),
            alg,
            HashAlgorithmName.SHA384);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));

        // CreateSelfSigned would try to attach (export) the private key; the HSM key stays put, so sign via a generator.
        root = req.Create(
            req.SubjectName, X509SignatureGenerator.CreateForECDsa(alg), now.AddMinutes(-5), now.AddYears(20), CaSigning.RandomSerial());
        File.WriteAllText(path, root.ExportCertificatePem());
        PkiLog.RootCreated(log, root.Subject);
        return root;
    }

    private static CertificateRequest NewTsaRequest(AsymmetricAlgorithm key)
    {
        var subject = new X500DistinguishedName("CN=DTrust Time-Stamping Unit 1, O=DTrust, C=DE");
        var req = key is RSA rsa
            ? new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
            : new CertificateRequest(subject, (ECDsa)key, HashAlgorithmName.SHA256);
        TsaCertificateProfile.AddExtensions(req);
        return req;
    }

    private static X509Certificate2? TryLoad(string path) =>
        File.Exists(path) ? X509Certificate2.CreateFromPem(File.ReadAllText(path)) : null;

    /// <summary>A certificate for a different key (a re-initialised token) must never be served.</summary>
    private static bool Matches(X509Certificate2 cert, HsmSigningKey key) =>
        cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.SubjectPublicKeyInfo);

    private static void RequireMatch(X509Certificate2 cert, HsmSigningKey key, string what)
    {
        if (!Matches(cert, key))
        {
            throw new InvalidOperationException($"The {what} ({cert.Subject}) does not match the key in the HSM.");
        }
    }

    private static bool IssuedBy(X509Certificate2 cert, X509Certificate2 issuer)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(issuer);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(cert);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) =>
        a < new DateTimeOffset(b.ToUniversalTime()) ? a : new DateTimeOffset(b.ToUniversalTime());
}
