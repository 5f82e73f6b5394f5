using System.Security.Cryptography;

namespace DTrust.SigningServer.Signing;

/// <summary>Object identifiers of the CMS signatures this server writes.</summary>
internal static class CmsOids
{
    public const string Data = "1.2.840.113549.1.7.1";
    public const string SignedData = "1.2.840.113549.1.7.2";
    public const string ContentType = "1.2.840.113549.1.9.3";
    public const string MessageDigest = "1.2.840.113549.1.9.4";
    public const string SigningTime = "1.2.840.113549.1.9.5";
    public const string SigningCertificateV2 = "1.2.840.113549.1.9.16.2.47";
    public const string SignatureTimeStampToken = "1.2.840.113549.1.9.16.2.14";
    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Mgf1 = "1.2.840.113549.1.1.8";

    public static string Digest(HashAlgorithmName hash) => Pick(hash,
        "2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2", "2.16.840.1.101.3.4.2.3");

    public static string EcdsaWith(HashAlgorithmName hash) => Pick(hash,
        "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4");

    public static string RsaPkcs1With(HashAlgorithmName hash) => Pick(hash,
        "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13");

    private static string Pick(HashAlgorithmName hash, string sha256, string sha384, string sha512) =>
        hash == HashAlgorithmName.SHA256 ? sha256
        : hash == HashAlgorithmName.SHA384 ? sha384
        : hash == HashAlgorithmName.SHA512 ? sha512
        : throw new ArgumentException($"hash algorithm '{hash.Name}' is not SHA-256, SHA-384 or SHA-512", nameof(hash));
}
