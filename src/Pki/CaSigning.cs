using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;

namespace DTrust.Pki;

/// <summary>Signature choices of CA and responder keys: the hash follows the key size, RSA uses PKCS#1 v1.5.</summary>
public static class CaSigning
{
    /// <summary>Issuing CA keys: P-384 on every level (about 1 ms a signature on SoftHSM, plenty for issuance and CRLs).</summary>
    public const KeyAlgorithm CaKeyAlgorithm = KeyAlgorithm.EcP384;

    /// <summary>OCSP responder keys: P-256, the fastest SoftHSM signature, because every OCSP answer is signed live.</summary>
    public const KeyAlgorithm OcspKeyAlgorithm = KeyAlgorithm.EcP256;

    public static HashAlgorithmName Hash(KeyAlgorithm alg) => alg switch
    {
        KeyAlgorithm.EcP256 or KeyAlgorithm.Rsa2048 => HashAlgorithmName.SHA256,
        KeyAlgorithm.EcP384 or KeyAlgorithm.Rsa3072 => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    public static bool IsEc(KeyAlgorithm alg) => alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;

    /// <summary>
    /// PKCS#1 v1.5 rather than PSS for RSA CAs: every relying party (and the CRL/OCSP clients of old PDF readers)
    /// verifies it, and ETSI TS 119 312 still lists it for certificates.
    /// </summary>
    public static X509SignatureGenerator Generator(AsymmetricAlgorithm key) => key switch
    {
        ECDsa ec => X509SignatureGenerator.CreateForECDsa(ec),
        RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
        _ => throw new NotSupportedException(key.GetType().Name),
    };

    public static SignatureScheme Scheme(KeyAlgorithm alg) => (IsEc(alg), Hash(alg).Name) switch
    {
        (true, "SHA256") => SignatureScheme.EcdsaSha256Der,
        (true, "SHA384") => SignatureScheme.EcdsaSha384Der,
        (true, _) => SignatureScheme.EcdsaSha512Der,
        (false, "SHA256") => SignatureScheme.RsaPkcs1Sha256,
        (false, "SHA384") => SignatureScheme.RsaPkcs1Sha384,
        _ => SignatureScheme.RsaPkcs1Sha512,
    };

    /// <summary>Upper-case hex of the serial's DER INTEGER contents, as <see cref="X509Certificate2.SerialNumber"/> and the store write it.</summary>
    public static string SerialHex(ReadOnlySpan<byte> serialBigEndian) => Convert.ToHexString(serialBigEndian);

    /// <summary>Positive 128-bit serials: unique without coordination (RFC 5280 allows up to 20 octets).</summary>
    public static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }
}
