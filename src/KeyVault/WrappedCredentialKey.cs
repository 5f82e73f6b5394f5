using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DTrust.KeyVault;

/// <summary>
/// A credential's private key wrapped (CKM_AES_KEY_WRAP_PAD) under a KEK derived from its domain's master key and
/// SHA-256(<see cref="Salt"/> ‖ PIN). Plain bytes the store persists; useless without the PIN and the domain's token.
/// </summary>
/// <param name="Domain">The key domain whose master key the KEK comes from.</param>
/// <param name="SubjectPublicKeyInfo">DER SubjectPublicKeyInfo of the key pair.</param>
/// <param name="Salt">32 random bytes, new for every wrap.</param>
/// <param name="Blob">The wrapped PKCS#8 private key.</param>
/// <param name="BlobDigest">
/// SHA-256 over all the other fields. It detects storage damage before the HSM is asked, so that a damaged blob is
/// not reported as a wrong PIN. It is not a secret and not a MAC: it contains nothing derived from the PIN, so it
/// gives no offline PIN test.
/// </param>
public sealed record WrappedCredentialKey(
    string Domain,
    KeyAlgorithm Algorithm,
    byte[] SubjectPublicKeyInfo,
    byte[] Salt,
    byte[] Blob,
    byte[] BlobDigest)
{
    private static readonly byte[] Context = Encoding.ASCII.GetBytes("DTrust wrapped credential key v1");

    /// <summary>
    /// A reference to a key that lives as a token object in its domain (a seal's key: few and busy, so it signs
    /// with one C_Sign and no unwrap): no salt, and the object's label where a wrapped key has its blob. The digest
    /// covers the label as it covers a blob, so a damaged or edited reference is refused before the token is asked.
    /// </summary>
    public static WrappedCredentialKey TokenObject(string domain, KeyAlgorithm algorithm, byte[] subjectPublicKeyInfo, string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        var blob = Encoding.UTF8.GetBytes(label);
        return new WrappedCredentialKey(
            domain, algorithm, subjectPublicKeyInfo, [], blob, ComputeDigest(domain, algorithm, subjectPublicKeyInfo, [], blob));
    }

    /// <summary>True for a <see cref="TokenObject"/> reference (no salt), false for a PIN-wrapped key.</summary>
    public bool IsTokenObject => Salt is { Length: 0 };

    /// <summary>
    /// The token object's label (<see cref="TokenObject"/> only). A method, not a property: serializers that write a
    /// wrapped key (the holder approval's grant) must not call it.
    /// </summary>
    public string GetTokenObjectLabel() => IsTokenObject
        ? Encoding.UTF8.GetString(Blob)
        : throw new InvalidOperationException("a wrapped credential key is not a token object");

    /// <summary>True when <see cref="BlobDigest"/> matches the other fields.</summary>
    public bool IsIntact() =>
        BlobDigest is not null && CryptographicOperations.FixedTimeEquals(
            BlobDigest, ComputeDigest(Domain, Algorithm, SubjectPublicKeyInfo, Salt, Blob));

    internal static byte[] ComputeDigest(string domain, KeyAlgorithm algorithm, byte[] spki, byte[] salt, byte[] blob)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Context);
        AppendField(hash, Encoding.UTF8.GetBytes(domain ?? ""));
        AppendField(hash, BitConverter.GetBytes((int)algorithm));
        AppendField(hash, spki ?? []);
        AppendField(hash, salt ?? []);
        AppendField(hash, blob ?? []);
        return hash.GetHashAndReset();
    }

    // Length prefixes keep field boundaries unambiguous.
    private static void AppendField(IncrementalHash hash, byte[] field)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, field.Length);
        hash.AppendData(length);
        hash.AppendData(field);
    }
}
