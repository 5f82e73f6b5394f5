using System.Security.Cryptography.X509Certificates;

namespace DTrust.Pki;

/// <summary>
/// The root's revocation list over what it certified (the issuing CAs and the TSA). A verifier in twenty years needs
/// revocation data for every certificate of a chain but the trust anchor; the credential's comes from its CA (OCSP,
/// CRL), the CAs' and the TSA's from here. Production: the offline root's CRL as the operator places it after a root
/// ceremony (<see cref="PkiOptions.RootCrlPath"/>), read again when the file changes. Development: the dev root
/// signs one without entries, valid <see cref="ValidityDays"/> days and signed again when a week is left.
/// </summary>
public sealed class RootCrl(DevPki dev, PkiSetup setup, PkiOptions options, TimeProvider time, ILogger<RootCrl> log)
{
    public const int ValidityDays = 30;

    private readonly Lock _gate = new();
    private byte[]? _der;
    private DateTimeOffset _nextUpdate;
    private DateTime _fileTime;

    /// <summary>The current root CRL (DER), or null when there is none (production without a configured file).</summary>
    public byte[]? Current()
    {
        lock (_gate)
        {
            if (!string.IsNullOrEmpty(options.RootCrlPath))
            {
                // A file being replaced (or gone) keeps the last good copy served; only a CRL that parses replaces it.
                try
                {
                    var written = File.GetLastWriteTimeUtc(options.RootCrlPath);
                    if (_der is null || written != _fileTime)
                    {
                        var der = File.ReadAllBytes(options.RootCrlPath);
                        CertificateRevocationListBuilder.Load(der, out _);
                        (_der, _fileTime) = (der, written);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
                {
                    PkiLog.RootCrlUnreadable(log, options.RootCrlPath, e.Message);
                }

                return _der;
            }

            if (!setup.Development)
            {
                return null;
            }

            if (_der is null || time.GetUtcNow() > _nextUpdate.AddDays(-7))
            {
                (_der, _nextUpdate) = Issue();
            }

            return _der;
        }
    }

    private (byte[] Der, DateTimeOffset NextUpdate) Issue()
    {
        var root = dev.EnsureRoot(out var key);
        var thisUpdate = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var nextUpdate = thisUpdate.AddDays(ValidityDays);
        using var alg = key.CreateAlgorithm();

        // Nothing the dev root issued is ever revoked; the number rises with time, so a newer list always wins.
        var der = new CertificateRevocationListBuilder().Build(
            root.SubjectName,
            CaSigning.Generator(alg),
            new System.Numerics.BigInteger(thisUpdate.ToUnixTimeSeconds()),
            nextUpdate,
            CaSigning.Hash(key.Algorithm),
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false),
            thisUpdate);
        File.WriteAllBytes(Path.Combine(setup.Directory, "root.crl"), der);
        PkiLog.RootCrlIssued(log, nextUpdate);
        return (der, nextUpdate);
    }
}
