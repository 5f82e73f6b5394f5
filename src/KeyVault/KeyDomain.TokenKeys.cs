using System.Collections.Concurrent;
using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

// The domain's long-lived token keys (CA, OCSP, TSA, root): found by label and checked before use, cached per handle
// generation, and looked up again (and compared) after a device fault.
public sealed partial class KeyDomain
{
    // As for the master key (KeyDomain.MasterKey.cs): never out of the HSM, and for signing.
    private static readonly (ulong Attribute, string Name, bool Expected)[] SigningKeyFlags =
    [
        (CK.CKA_SENSITIVE, nameof(CK.CKA_SENSITIVE), true),
        (CK.CKA_ALWAYS_SENSITIVE, nameof(CK.CKA_ALWAYS_SENSITIVE), true),
        (CK.CKA_EXTRACTABLE, nameof(CK.CKA_EXTRACTABLE), false),
        (CK.CKA_NEVER_EXTRACTABLE, nameof(CK.CKA_NEVER_EXTRACTABLE), true),
        (CK.CKA_SIGN, nameof(CK.CKA_SIGN), true),
    ];

    private readonly ConcurrentDictionary<string, HsmSigningKey> _signingKeys = new(StringComparer.Ordinal);

    /// <summary>Finds the signing key pair labelled <paramref name="label"/>, or generates it as token objects.</summary>
    public HsmSigningKey GetOrCreateSigningKey(string label, KeyAlgorithm alg)
    {
        CheckAlgorithm(alg);
        var key = _signingKeys.TryGetValue(CheckLabel(label), out var cached) ? cached : Run("signing key set-up", lease =>
        {
            lock (_setupLock)
            {
                var existing = FindSigningKey(lease.Handle, label);
                if (existing is not null)
                {
                    return existing;
                }

                var (priv, spki) = GenerateTokenKeyPair(lease.Handle, label, alg);
                return new HsmSigningKey(this, label, priv, HandleGeneration, alg, spki);
            }
        });

        if (key.Algorithm != alg)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"signing key '{label}' in domain '{Name}' is {key.Algorithm}, not {alg}");
        }

        return _signingKeys.GetOrAdd(label, key);
    }

    /// <summary>The existing signing key labelled <paramref name="label"/>; a missing key is KeyNotFound.</summary>
    public HsmSigningKey GetSigningKey(string label)
    {
        if (_signingKeys.TryGetValue(CheckLabel(label), out var cached))
        {
            return cached;
        }

        var key = Run("signing key lookup", lease => FindSigningKey(lease.Handle, label))
            ?? throw new KeyVaultException(
                KeyVaultErrorKind.KeyNotFound,
                $"token '{TokenLabel}' of domain '{Name}' has no signing key labelled '{label}'; run the set-up");
        return _signingKeys.GetOrAdd(label, key);
    }

    internal byte[] SignWithTokenKey(HsmSigningKey key, in Mechanism mechanism, byte[] input)
    {
        var m = mechanism;
        return Run("token key signing", lease => SignWithTokenKey(lease, key, m, input));
    }

    /// <summary>As <see cref="SignWithTokenKey(HsmSigningKey, in Mechanism, byte[])"/>, waiting for a session without blocking a thread.</summary>
    internal Task<byte[]> SignWithTokenKeyAsync(HsmSigningKey key, Mechanism mechanism, byte[] input, CancellationToken ct) =>
        RunAsync("token key signing", lease => SignWithTokenKey(lease, key, mechanism, input), ct);

    /// <summary>
    /// The handle of a token signing key, looked up again by label after the cached one went stale. The key found
    /// must be the same key (algorithm and public key): a different key under the label would sign for a
    /// certificate it does not match.
    /// </summary>
    internal ulong RefindSigningKey(ulong session, HsmSigningKey key)
    {
        var found = LookUpSigningKey(session, key.Label) ?? throw new KeyVaultException(
            KeyVaultErrorKind.KeyNotFound,
            $"token '{TokenLabel}' of domain '{Name}' no longer holds the signing key labelled '{key.Label}'");
        if (found.Algorithm != key.Algorithm || !found.Spki.AsSpan().SequenceEqual(key.SubjectPublicKeyInfoSpan))
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"the signing key labelled '{key.Label}' in domain '{Name}' is no longer the key it was; refusing to sign with it");
        }

        return found.Handle;
    }

    private static string CheckLabel(string label) => CredentialChecks.Label(label);

    /// <summary>
    /// Generates a signing key pair as token objects under <paramref name="label"/> (private key sensitive and never
    /// extractable); the caller holds <c>_setupLock</c> and has checked the label is free.
    /// </summary>
    private (ulong PrivateKey, byte[] Spki) GenerateTokenKeyPair(ulong session, string label, KeyAlgorithm alg)
    {
        var id = RandomNumberGenerator.GetBytes(16);
        var (mechanism, _) = Algorithms.Generation(alg);
        var (pub, priv) = _p11.GenerateKeyPair(
            session,
            mechanism,
            Templates.PublicKey(alg, token: true, label, id),
            Templates.PrivateKey(token: true, extractable: false, label, id));
        Log.SigningKeyCreated(_log, Name, label, alg);
        return (priv, Algorithms.ReadSubjectPublicKeyInfo(_p11, session, pub, alg));
    }

    private byte[] SignWithTokenKey(SessionLease lease, HsmSigningKey key, in Mechanism mechanism, byte[] input)
    {
        try
        {
            return SignOnce(lease.Handle, mechanism, key.CurrentHandle(lease.Handle), key.Algorithm, input);
        }
        catch (Pkcs11Exception e) when (Faults.IsHandleInvalid(e.ReturnValue))
        {
            // Stale handle: look the key up again by label and sign once more. A second failure is reported.
            DropHandles(e.Message);
            return SignOnce(lease.Handle, mechanism, key.CurrentHandle(lease.Handle), key.Algorithm, input);
        }
    }

    private HsmSigningKey? FindSigningKey(ulong session, string label) => LookUpSigningKey(session, label) is { } found
        ? new HsmSigningKey(this, label, found.Handle, HandleGeneration, found.Algorithm, found.Spki)
        : null;

    /// <summary>Finds the key pair labelled <paramref name="label"/> and checks its private key before trusting it.</summary>
    private (ulong Handle, KeyAlgorithm Algorithm, byte[] Spki)? LookUpSigningKey(ulong session, string label)
    {
        var privates = _p11.FindObjects(session, Templates.FindByLabel(CK.CKO_PRIVATE_KEY, label), 2);
        if (privates.Length == 0)
        {
            return null;
        }

        var publics = _p11.FindObjects(session, Templates.FindByLabel(CK.CKO_PUBLIC_KEY, label), 2);
        if (privates.Length > 1 || publics.Length != 1)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"token '{TokenLabel}' of domain '{Name}' does not hold exactly one key pair labelled '{label}'");
        }

        CheckFlags(session, privates[0], $"signing key '{label}' in domain '{Name}'", SigningKeyFlags);
        var alg = Algorithms.Identify(_p11, session, publics[0]);
        var spki = Algorithms.ReadSubjectPublicKeyInfo(_p11, session, publics[0], alg);
        return (privates[0], alg, spki);
    }
}
