using System.Formats.Asn1;
using System.Security.Cryptography;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>Facts about each <see cref="KeyAlgorithm"/>: curve or modulus, signature length, public key encoding.</summary>
internal static class Algorithms
{
    // DER OIDs for CKA_EC_PARAMS (namedCurve).
    private static readonly byte[] P256Oid = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    private static readonly byte[] P384Oid = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
    private static readonly byte[] Rsa65537 = [0x01, 0x00, 0x01];

    public static bool IsEc(KeyAlgorithm alg) => alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;

    public static ulong KeyType(KeyAlgorithm alg) => IsEc(alg) ? CK.CKK_EC : CK.CKK_RSA;

    /// <summary>Bytes of a raw signature: r‖s for ECDSA, the modulus length for RSA.</summary>
    public static int SignatureLength(KeyAlgorithm alg) => alg switch
    {
        KeyAlgorithm.EcP256 => 64,
        KeyAlgorithm.EcP384 => 96,
        KeyAlgorithm.Rsa2048 => 256,
        KeyAlgorithm.Rsa3072 => 384,
        KeyAlgorithm.Rsa4096 => 512,
        _ => throw new ArgumentOutOfRangeException(nameof(alg), alg, "unknown key algorithm"),
    };

    public static int KeySizeBits(KeyAlgorithm alg) => alg switch
    {
        KeyAlgorithm.EcP256 => 256,
        KeyAlgorithm.EcP384 => 384,
        _ => SignatureLength(alg) * 8,
    };

    public static bool IsDefined(KeyAlgorithm alg) => alg is >= KeyAlgorithm.EcP256 and <= KeyAlgorithm.Rsa4096;

    /// <summary>Key-pair generation mechanism and the algorithm-specific part of the public template.</summary>
    public static (Mechanism Mechanism, Attr[] PublicAttributes) Generation(KeyAlgorithm alg) => alg switch
    {
        KeyAlgorithm.EcP256 => (new Mechanism(CK.CKM_EC_KEY_PAIR_GEN), [new Attr(CK.CKA_EC_PARAMS, P256Oid)]),
        KeyAlgorithm.EcP384 => (new Mechanism(CK.CKM_EC_KEY_PAIR_GEN), [new Attr(CK.CKA_EC_PARAMS, P384Oid)]),
        _ => (new Mechanism(CK.CKM_RSA_PKCS_KEY_PAIR_GEN),
            [Attr.ULong(CK.CKA_MODULUS_BITS, (ulong)KeySizeBits(alg)), new Attr(CK.CKA_PUBLIC_EXPONENT, Rsa65537)]),
    };

    /// <summary>Reads a public key object and encodes it as DER SubjectPublicKeyInfo.</summary>
    public static byte[] ReadSubjectPublicKeyInfo(IPkcs11 p11, ulong session, ulong publicKey, KeyAlgorithm alg)
    {
        if (IsEc(alg))
        {
            var point = DecodeEcPoint(p11.GetAttributeValue(session, publicKey, CK.CKA_EC_POINT));
            var size = (point.Length - 1) / 2;
            using var ec = ECDsa.Create(new ECParameters
            {
                Curve = alg == KeyAlgorithm.EcP256 ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384,
                Q = new ECPoint { X = point[1..(1 + size)], Y = point[(1 + size)..] },
            });
            return ec.ExportSubjectPublicKeyInfo();
        }

        using var rsa = RSA.Create(new RSAParameters
        {
            Modulus = p11.GetAttributeValue(session, publicKey, CK.CKA_MODULUS),
            Exponent = p11.GetAttributeValue(session, publicKey, CK.CKA_PUBLIC_EXPONENT),
        });
        return rsa.ExportSubjectPublicKeyInfo();
    }

    /// <summary>Tells the algorithm of a key pair from its private key object, for keys found by label.</summary>
    public static KeyAlgorithm Identify(IPkcs11 p11, ulong session, ulong publicKey)
    {
        var keyType = BitConverter.ToUInt64(p11.GetAttributeValue(session, publicKey, CK.CKA_KEY_TYPE));
        if (keyType == CK.CKK_EC)
        {
            var oid = p11.GetAttributeValue(session, publicKey, CK.CKA_EC_PARAMS);
            return oid.AsSpan().SequenceEqual(P256Oid) ? KeyAlgorithm.EcP256
                : oid.AsSpan().SequenceEqual(P384Oid) ? KeyAlgorithm.EcP384
                : throw new KeyVaultException(KeyVaultErrorKind.Configuration, "token key uses an unsupported curve");
        }

        var bits = p11.GetAttributeValue(session, publicKey, CK.CKA_MODULUS).Length * 8;
        return bits switch
        {
            2048 => KeyAlgorithm.Rsa2048,
            3072 => KeyAlgorithm.Rsa3072,
            4096 => KeyAlgorithm.Rsa4096,
            _ => throw new KeyVaultException(KeyVaultErrorKind.Configuration, $"token RSA key of {bits} bits is unsupported"),
        };
    }

    /// <summary>Creates a software verifier-only key from a SubjectPublicKeyInfo.</summary>
    public static AsymmetricAlgorithm ImportPublic(KeyAlgorithm alg, byte[] spki)
    {
        AsymmetricAlgorithm key = IsEc(alg) ? ECDsa.Create() : RSA.Create();
        key.ImportSubjectPublicKeyInfo(spki, out _);
        return key;
    }

    // SoftHSM returns CKA_EC_POINT as a DER OCTET STRING; some modules return the bare point.
    private static byte[] DecodeEcPoint(byte[] value)
    {
        if (value.Length > 0 && value[0] == 0x04 && value.Length % 2 == 1 && value.Length is 65 or 97)
        {
            return value;
        }

        return AsnDecoder.ReadOctetString(value, AsnEncodingRules.DER, out _);
    }
}
