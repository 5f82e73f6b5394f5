using System.Security.Cryptography;
using DTrust.KeyVault;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Policy;
using V1 = DTrust.Signing.V1;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// The proto's hash algorithms mapped to .NET's. The rules on hash lists and schemes are <see cref="SigningPolicy"/>'s;
/// <see cref="Scheme"/> forwards there for the TSA, which picks its own scheme the same way.
/// </summary>
internal static class HashRules
{
    public static HashAlgorithmName ToHash(V1.HashAlgorithm algorithm) => algorithm switch
    {
        V1.HashAlgorithm.Sha256 => HashAlgorithmName.SHA256,
        V1.HashAlgorithm.Sha384 => HashAlgorithmName.SHA384,
        V1.HashAlgorithm.Sha512 => HashAlgorithmName.SHA512,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "hash_algorithm must be SHA256, SHA384 or SHA512"),
    };

    /// <summary>Forwards to <see cref="SigningPolicy.Scheme"/>.</summary>
    public static SignatureScheme Scheme(KeyAlgorithm key, HashAlgorithmName hash, bool pkcs1, bool p1363) =>
        SigningPolicy.Scheme(key, hash, pkcs1, p1363);
}
