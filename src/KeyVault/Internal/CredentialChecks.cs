namespace DTrust.KeyVault.Internal;

/// <summary>
/// The argument checks every <see cref="IKeyDomain"/> backend makes before it touches a key, in one place so that
/// the backends refuse the same inputs with the same kinds and messages.
/// </summary>
internal static class CredentialChecks
{
    /// <summary>The length of a wrapped key's salt; a different length is damage.</summary>
    public const int SaltLength = 32;

    public static void Algorithm(KeyAlgorithm alg)
    {
        if (!Algorithms.IsDefined(alg))
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unknown key algorithm {alg}");
        }
    }

    public static void Pin(ReadOnlyMemory<byte> pin)
    {
        if (pin.IsEmpty)
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "the PIN is empty");
        }
    }

    public static string Label(string label) => string.IsNullOrWhiteSpace(label)
        ? throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "a signing key needs a label")
        : label;

    public static void Wrapped(WrappedCredentialKey key, string domain)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!string.Equals(key.Domain, domain, StringComparison.Ordinal))
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.WrongDomain,
                $"the credential key belongs to domain '{key.Domain}', not '{domain}'");
        }

        Algorithm(key.Algorithm);

        // Checked before the HSM is asked, so that storage damage is never mistaken for a wrong PIN.
        if (key.Salt is not { Length: SaltLength } || key.Blob is null || key.SubjectPublicKeyInfo is null || !key.IsIntact())
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.CorruptKeyBlob,
                "the wrapped credential key does not match its integrity digest");
        }

        // CKM_AES_KEY_WRAP_PAD output is a whole number of 8-byte blocks, at least two. Any other length fails in
        // the HSM whatever the PIN (CKR_WRAPPED_KEY_LEN_RANGE), so it is damage, not a wrong PIN to be counted.
        if (key.Blob.Length < 16 || key.Blob.Length % 8 != 0)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.CorruptKeyBlob,
                $"the wrapped credential key has {key.Blob.Length} bytes, not a whole number of AES key-wrap blocks");
        }
    }

    /// <summary>A batch to sign: at least one digest, each of the scheme's hash length, and a scheme that fits the key.</summary>
    public static void Batch(KeyAlgorithm alg, IReadOnlyList<ReadOnlyMemory<byte>> digests, SignatureScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "no digests to sign");
        }

        Schemes.Validate(alg, scheme, digests);
    }
}
