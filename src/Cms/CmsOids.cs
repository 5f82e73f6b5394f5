using System.Security.Cryptography;

namespace DTrust.Cms;

/// <summary>Object identifiers of the CMS structures we write and read, named as in their RFCs.</summary>
public static class CmsOids
{
    /// <summary>id-data and id-signedData (RFC 5652 §4, §5.1).</summary>
    public const string Data = "1.2.840.113549.1.7.1";
    public const string SignedData = "1.2.840.113549.1.7.2";

    /// <summary>id-ct-TSTInfo (RFC 3161 §2.4.2).</summary>
    public const string TstInfo = "1.2.840.113549.1.9.16.1.4";

    /// <summary>Signed attributes: content-type, message-digest, signing-time (RFC 5652 §11), signing-certificate-v2 (RFC 5035).</summary>
    public const string ContentType = "1.2.840.113549.1.9.3";
    public const string MessageDigest = "1.2.840.113549.1.9.4";
    public const string SigningTime = "1.2.840.113549.1.9.5";
    public const string SigningCertificateV2 = "1.2.840.113549.1.9.16.2.47";

    /// <summary>Unsigned attributes: signature-time-stamp (RFC 3161 appendix A), certificate-values and revocation-values (RFC 5126).</summary>
    public const string SignatureTimeStampToken = "1.2.840.113549.1.9.16.2.14";
    public const string CertificateValues = "1.2.840.113549.1.9.16.2.23";
    public const string RevocationValues = "1.2.840.113549.1.9.16.2.24";

    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";

    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Mgf1 = "1.2.840.113549.1.1.8";

    public static string Digest(HashAlgorithmName hash) => Pick(hash, Sha256, Sha384, Sha512);

    public static string EcdsaWith(HashAlgorithmName hash) => Pick(hash,
        "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4");

    public static string RsaPkcs1With(HashAlgorithmName hash) => Pick(hash,
        "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13");

    /// <summary>The output length of SHA-256/384/512; any other hash is refused.</summary>
    public static int HashLength(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? 32
        : hash == HashAlgorithmName.SHA384 ? 48
        : hash == HashAlgorithmName.SHA512 ? 64
        : throw Unsupported(hash);

    private static string Pick(HashAlgorithmName hash, string sha256, string sha384, string sha512) =>
        hash == HashAlgorithmName.SHA256 ? sha256
        : hash == HashAlgorithmName.SHA384 ? sha384
        : hash == HashAlgorithmName.SHA512 ? sha512
        : throw Unsupported(hash);

    private static ArgumentException Unsupported(HashAlgorithmName hash) =>
        new($"hash algorithm '{hash.Name}' is not SHA-256, SHA-384 or SHA-512", nameof(hash));
}
