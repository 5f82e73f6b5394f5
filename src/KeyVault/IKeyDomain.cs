namespace DTrust.KeyVault;

/// <summary>
/// What a caller may ask of one key domain, whatever holds its keys (smallstep's <c>KeyManager</c> is the model):
/// make a credential key, re-wrap it, unwrap-and-sign a batch with it, and give the domain's long-lived signing keys.
/// Credential keys leave a domain only wrapped under a KEK of the holder's PIN; a backend never returns a private key.
/// Every failure is a <see cref="KeyVaultException"/> whose <see cref="KeyVaultException.Kind"/> a caller can act on.
/// </summary>
/// <remarks>
/// Not <see cref="IDisposable"/>: the vault that opened a domain owns it and closes it; callers only borrow it.
/// </remarks>
public interface IKeyDomain
{
    /// <summary>The domain's name (a credential level or <c>tsa</c>/<c>root</c>); wrapped keys are bound to it.</summary>
    string Name { get; }

    /// <summary>The label of the token (or store) that holds the domain's keys.</summary>
    string TokenLabel { get; }

    /// <summary>
    /// Creates the domain's master key if it has none. Idempotent; an existing master key that is not fit for its
    /// purpose fails (Configuration).
    /// </summary>
    void EnsureMasterKey();

    /// <summary>
    /// Generates a credential key pair and returns it wrapped under the KEK of <paramref name="pin"/>. An unknown
    /// algorithm or an empty PIN is InvalidInput.
    /// </summary>
    Task<WrappedCredentialKey> CreateCredentialKeyAsync(KeyAlgorithm alg, ReadOnlyMemory<byte> pin, CancellationToken ct);

    /// <summary>
    /// Re-wraps a credential key under <paramref name="newPin"/> with a fresh salt. A key of another domain is
    /// WrongDomain, a damaged one CorruptKeyBlob, an <paramref name="oldPin"/> that does not open it WrongPin.
    /// </summary>
    Task<WrappedCredentialKey> RewrapAsync(
        WrappedCredentialKey key, ReadOnlyMemory<byte> oldPin, ReadOnlyMemory<byte> newPin, CancellationToken ct);

    /// <summary>
    /// Unwraps the credential key once and signs every digest with it; one signature per digest, in order. Errors as
    /// for <see cref="RewrapAsync"/>; no digests, a digest of the wrong length or a scheme that does not fit the key is
    /// InvalidInput. A batch with a signature that does not verify is withheld whole (HsmError).
    /// </summary>
    Task<IReadOnlyList<byte[]>> SignBatchAsync(
        WrappedCredentialKey key,
        ReadOnlyMemory<byte> pin,
        IReadOnlyList<ReadOnlyMemory<byte>> digests,
        SignatureScheme scheme,
        CancellationToken ct);

    /// <summary>The existing signing key (CA, OCSP, TSA, root) labelled <paramref name="label"/>; a missing key is KeyNotFound.</summary>
    ISigningKey GetSigningKey(string label);

    /// <summary>
    /// The signing key labelled <paramref name="label"/>, generated if the domain has none; an existing key of
    /// another algorithm is Configuration.
    /// </summary>
    ISigningKey GetOrCreateSigningKey(string label, KeyAlgorithm alg);

    /// <summary>A cheap round trip to the key store for health checks; fails as an operation would.</summary>
    Task ProbeAsync(CancellationToken ct);
}
