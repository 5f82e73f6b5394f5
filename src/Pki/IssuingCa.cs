using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace DTrust.Pki;

/// <summary>
/// One level's issuing CA: its certificate and HSM key, and the OCSP responder it certified (key in the same
/// token). <see cref="Chain"/> is the CA first, then what lies above it up to the root.
/// </summary>
public sealed class IssuingCa
{
    internal IssuingCa(
        CredentialLevel level,
        X509Certificate2 certificate,
        HsmSigningKey key,
        X509Certificate2 ocspCertificate,
        HsmSigningKey ocspKey,
        X509Certificate2Collection chain)
    {
        Level = level;
        Certificate = certificate;
        Key = key;
        OcspCertificate = ocspCertificate;
        OcspKey = ocspKey;
        Chain = chain;
        BcCertificate = new BcCertificate(certificate.RawData);
        BcOcspCertificate = new BcCertificate(ocspCertificate.RawData);
    }

    public CredentialLevel Level { get; }

    public X509Certificate2 Certificate { get; }

    public HsmSigningKey Key { get; }

    public X509Certificate2 OcspCertificate { get; }

    public HsmSigningKey OcspKey { get; }

    public X509Certificate2Collection Chain { get; }

    /// <summary>The same certificates parsed once for BouncyCastle's OCSP types.</summary>
    internal BcCertificate BcCertificate { get; }

    internal BcCertificate BcOcspCertificate { get; }
}

/// <summary>The issuing CAs of all levels, checked against their HSM keys at start-up.</summary>
public sealed class IssuingCas(IReadOnlyDictionary<CredentialLevel, IssuingCa> cas)
{
    public IReadOnlyCollection<IssuingCa> All => [.. cas.Values.OrderByDescending(c => c.Level)];

    public IssuingCa this[CredentialLevel level] => cas.TryGetValue(level, out var ca)
        ? ca
        : throw new KeyNotFoundException($"no issuing CA for level {level}");
}

/// <summary>Level names as they appear in tokens, URLs and file names.</summary>
public static class PkiLevels
{
    public static readonly CredentialLevel[] All =
    [
        CredentialLevel.Simple, CredentialLevel.Advanced, CredentialLevel.Qualified, CredentialLevel.QualifiedSeal, CredentialLevel.AdvancedSeal,
    ];

    /// <summary>
    /// "simple", "advanced", "qualified", "seal-qualified", "seal-advanced": also the key domain (token) of the level,
    /// so seal keys and persons' keys never share a token or an issuing CA.
    /// </summary>
    public static string Name(CredentialLevel level) => level switch
    {
        CredentialLevel.Simple => "simple",
        CredentialLevel.Advanced => "advanced",
        CredentialLevel.Qualified => "qualified",
        CredentialLevel.QualifiedSeal => "seal-qualified",
        CredentialLevel.AdvancedSeal => "seal-advanced",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    public static bool TryParse(string? name, out CredentialLevel level)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(Name(candidate), name, StringComparison.Ordinal))
            {
                level = candidate;
                return true;
            }
        }

        level = default;
        return false;
    }
}
