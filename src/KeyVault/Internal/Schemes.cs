using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>Maps a <see cref="SignatureScheme"/> to the PKCS#11 mechanism, the input the HSM signs and the output encoding.</summary>
internal static class Schemes
{
    // DER DigestInfo prefixes (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs whatever it gets, so we prepend them.
    private static readonly byte[] Sha256Prefix =
        [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    private static readonly byte[] Sha384Prefix =
        [0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30];

    private static readonly byte[] Sha512Prefix =
        [0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40];

    public static HashAlgorithmName Hash(SignatureScheme scheme) => scheme switch
    {
        SignatureScheme.EcdsaSha256Der or SignatureScheme.EcdsaSha256P1363 or SignatureScheme.RsaPkcs1Sha256
            or SignatureScheme.RsaPssSha256 => HashAlgorithmName.SHA256,
        SignatureScheme.EcdsaSha384Der or SignatureScheme.EcdsaSha384P1363 or SignatureScheme.RsaPkcs1Sha384
            or SignatureScheme.RsaPssSha384 => HashAlgorithmName.SHA384,
        SignatureScheme.EcdsaSha512Der or SignatureScheme.EcdsaSha512P1363 or SignatureScheme.RsaPkcs1Sha512
            or SignatureScheme.RsaPssSha512 => HashAlgorithmName.SHA512,
        _ => throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unknown signature scheme {scheme}"),
    };

    public static int HashLength(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? 32
        : hash == HashAlgorithmName.SHA384 ? 48
        : hash == HashAlgorithmName.SHA512 ? 64
        : throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unsupported hash {hash.Name}");

    public static bool IsEcdsa(SignatureScheme scheme) => scheme is >= SignatureScheme.EcdsaSha256Der and <= SignatureScheme.EcdsaSha512P1363;

    public static bool IsDer(SignatureScheme scheme) => scheme is >= SignatureScheme.EcdsaSha256Der and <= SignatureScheme.EcdsaSha512Der;

    public static bool IsPss(SignatureScheme scheme) => scheme is >= SignatureScheme.RsaPssSha256 and <= SignatureScheme.RsaPssSha512;

    /// <summary>Refuses a scheme that does not fit the key, or a digest of the wrong length, before the HSM sees it.</summary>
    public static void Validate(KeyAlgorithm alg, SignatureScheme scheme, IReadOnlyList<ReadOnlyMemory<byte>> digests)
    {
        if (IsEcdsa(scheme) != Algorithms.IsEc(alg))
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"scheme {scheme} does not fit a {alg} key");
        }

        var length = HashLength(Hash(scheme));
        for (var i = 0; i < digests.Count; i++)
        {
            if (digests[i].Length != length)
            {
                throw new KeyVaultException(
                    KeyVaultErrorKind.InvalidInput,
                    $"digest {i} has {digests[i].Length} bytes; {scheme} needs {length}");
            }
        }
    }

    /// <summary>The mechanism for a scheme. PSS uses MGF1 with the same hash and a salt as long as the hash.</summary>
    public static Mechanism Mechanism(SignatureScheme scheme) => IsEcdsa(scheme)
        ? new Mechanism(CK.CKM_ECDSA)
        : IsPss(scheme)
            ? PssMechanism(Hash(scheme))
            : new Mechanism(CK.CKM_RSA_PKCS);

    public static Mechanism PssMechanism(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? Interop.Mechanism.RsaPss(CK.CKM_SHA256, CK.CKG_MGF1_SHA256, 32)
        : hash == HashAlgorithmName.SHA384 ? Interop.Mechanism.RsaPss(CK.CKM_SHA384, CK.CKG_MGF1_SHA384, 48)
        : hash == HashAlgorithmName.SHA512 ? Interop.Mechanism.RsaPss(CK.CKM_SHA512, CK.CKG_MGF1_SHA512, 64)
        : throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unsupported hash {hash.Name}");

    /// <summary>What CKM_RSA_PKCS signs: DigestInfo ‖ digest.</summary>
    public static byte[] DigestInfo(HashAlgorithmName hash, ReadOnlySpan<byte> digest)
    {
        var prefix = hash == HashAlgorithmName.SHA256 ? Sha256Prefix
            : hash == HashAlgorithmName.SHA384 ? Sha384Prefix
            : hash == HashAlgorithmName.SHA512 ? Sha512Prefix
            : throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unsupported hash {hash.Name}");
        return [.. prefix, .. digest];
    }

    /// <summary>Re-encodes a raw r‖s ECDSA signature as DER SEQUENCE { INTEGER r, INTEGER s }.</summary>
    public static byte[] P1363ToDer(ReadOnlySpan<byte> rs)
    {
        var half = rs.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(new BigInteger(rs[..half], isUnsigned: true, isBigEndian: true));
            writer.WriteInteger(new BigInteger(rs[half..], isUnsigned: true, isBigEndian: true));
        }

        return writer.Encode();
    }
}
