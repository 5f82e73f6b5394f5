using System.Security.Cryptography;
using DTrust.KeyVault;
using DTrust.SigningServer.Errors;
using V1 = DTrust.Signing.V1;

namespace DTrust.SigningServer.Signing;

/// <summary>Hash lists as the partner sends them: checked before anything else runs, and bound into challenges.</summary>
internal static class HashRules
{
    public static HashAlgorithmName ToHash(V1.HashAlgorithm algorithm) => algorithm switch
    {
        V1.HashAlgorithm.Sha256 => HashAlgorithmName.SHA256,
        V1.HashAlgorithm.Sha384 => HashAlgorithmName.SHA384,
        V1.HashAlgorithm.Sha512 => HashAlgorithmName.SHA512,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "hash_algorithm must be SHA256, SHA384 or SHA512"),
    };

    public static int Length(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA512 ? 64 : hash == HashAlgorithmName.SHA384 ? 48 : 32;

    /// <summary>Every hash has the algorithm's length, and there are 1 to <paramref name="max"/> of them.</summary>
    public static void Validate(IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash, int max)
    {
        if (hashes.Count == 0 || hashes.Count > max)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"send 1 to {max} hashes");
        }

        var length = Length(hash);
        for (var i = 0; i < hashes.Count; i++)
        {
            if (hashes[i].Length != length)
            {
                throw new DTrustException(
                    ErrorKind.InvalidArgument, $"hash {i} has {hashes[i].Length} bytes; {hash.Name} hashes have {length}");
            }
        }
    }

    /// <summary>SHA-256 over the algorithm and the ordered hashes: reordering, swapping or adding one changes it.</summary>
    public static string ListDigest(IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.ASCII.GetBytes(hash.Name + ":" + hashes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":"));
        foreach (var h in hashes)
        {
            sha.AppendData(h.Span);
        }

        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>The vault scheme for a key, hash and the partner's encoding wishes.</summary>
    public static SignatureScheme Scheme(KeyAlgorithm key, HashAlgorithmName hash, bool pkcs1, bool p1363)
    {
        var h = Length(hash);
        var ec = key is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;
        return (ec, p1363, pkcs1, h) switch
        {
            (true, false, _, 32) => SignatureScheme.EcdsaSha256Der,
            (true, false, _, 48) => SignatureScheme.EcdsaSha384Der,
            (true, false, _, _) => SignatureScheme.EcdsaSha512Der,
            (true, true, _, 32) => SignatureScheme.EcdsaSha256P1363,
            (true, true, _, 48) => SignatureScheme.EcdsaSha384P1363,
            (true, true, _, _) => SignatureScheme.EcdsaSha512P1363,
            (false, _, true, 32) => SignatureScheme.RsaPkcs1Sha256,
            (false, _, true, 48) => SignatureScheme.RsaPkcs1Sha384,
            (false, _, true, _) => SignatureScheme.RsaPkcs1Sha512,
            (false, _, false, 32) => SignatureScheme.RsaPssSha256,
            (false, _, false, 48) => SignatureScheme.RsaPssSha384,
            (false, _, false, _) => SignatureScheme.RsaPssSha512,
        };
    }
}
