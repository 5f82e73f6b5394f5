using System.Security.Cryptography;
using DTrust.KeyVault.Internal;

namespace DTrust.KeyVault;

// Seal keys: a token object per seal, in a seal domain of its own. No PIN and no unwrap: what activates a seal is
// decided above the vault (the registered callers), so the vault's job is to sign with exactly the key the stored
// reference names and to refuse anything else.
public sealed partial class KeyDomain
{
    /// <summary>
    /// Generates a seal key pair as token objects labelled <paramref name="label"/> (sensitive, never extractable)
    /// and returns the reference the store keeps. A label already in use is refused: a seal never takes over a key.
    /// </summary>
    public Task<WrappedCredentialKey> CreateSealKeyAsync(string label, KeyAlgorithm alg, CancellationToken ct)
    {
        CheckAlgorithm(alg);
        CheckSealLabel(CredentialChecks.Label(label));
        return RunAsync("seal key generation", lease =>
        {
            lock (_setupLock)
            {
                if (LookUpSigningKey(lease.Handle, label) is not null)
                {
                    throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"domain '{Name}' already holds a key labelled '{label}'");
                }

                var (_, spki) = GenerateTokenKeyPair(lease.Handle, label, alg);
                return WrappedCredentialKey.TokenObject(Name, alg, spki, label);
            }
        }, ct);
    }

    /// <summary>
    /// Signs every digest with the seal key the reference names, on one session: one C_Sign per digest. The
    /// reference must be this domain's, intact, and name a key whose public half is the reference's (a different
    /// key under the label would sign for a certificate it does not match). RSA signatures are verified before any
    /// leaves, as for credential keys.
    /// </summary>
    public async Task<IReadOnlyList<byte[]>> SignWithSealKeyAsync(
        WrappedCredentialKey reference, IReadOnlyList<ReadOnlyMemory<byte>> digests, SignatureScheme scheme, CancellationToken ct)
    {
        var key = SealKey(reference);
        CredentialChecks.Batch(reference.Algorithm, digests, scheme);
        var mechanism = Schemes.Mechanism(scheme);
        var pkcs1 = !Schemes.IsEcdsa(scheme) && !Schemes.IsPss(scheme);
        var hash = Schemes.Hash(scheme);
        var der = Schemes.IsDer(scheme);
        return await RunAsync<IReadOnlyList<byte[]>>("seal signing", lease =>
        {
            var signatures = new byte[digests.Count][];
            for (var i = 0; i < digests.Count; i++)
            {
                var input = pkcs1 ? Schemes.DigestInfo(hash, digests[i].Span) : digests[i].ToArray();
                var raw = SignWithTokenKey(lease, key, mechanism, input);
                signatures[i] = der ? Schemes.P1363ToDer(raw) : raw;
            }

            if (!Schemes.IsEcdsa(scheme))
            {
                RequireRsaSignaturesVerify(lease, reference, digests, signatures, hash, pkcs1 ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss);
            }

            return signatures;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Destroys the seal key pair on the token (a revoked seal's key is of no further use, and a key that no longer
    /// exists cannot sign by mistake). A key already gone is not an error (false).
    /// </summary>
    public Task<bool> DestroySealKeyAsync(WrappedCredentialKey reference, CancellationToken ct)
    {
        CheckSealReference(reference);
        var label = reference.GetTokenObjectLabel();
        return RunAsync("seal key destruction", lease =>
        {
            lock (_setupLock)
            {
                _signingKeys.TryRemove(label, out _);
                if (LookUpSigningKey(lease.Handle, label) is not { } found)
                {
                    return false;
                }

                // Only the key the reference names: a pair under the label with another public key is left alone.
                if (found.Algorithm != reference.Algorithm || !found.Spki.AsSpan().SequenceEqual(reference.SubjectPublicKeyInfo))
                {
                    throw new KeyVaultException(
                        KeyVaultErrorKind.CorruptKeyBlob, $"the key labelled '{label}' in domain '{Name}' is not the seal's key; not destroying it");
                }

                foreach (var cls in new[] { Interop.CK.CKO_PRIVATE_KEY, Interop.CK.CKO_PUBLIC_KEY })
                {
                    foreach (var handle in _p11.FindObjects(lease.Handle, Templates.FindByLabel(cls, label), 2))
                    {
                        _p11.DestroyObject(lease.Handle, handle);
                    }
                }

                return true;
            }
        }, ct);
    }

    /// <summary>
    /// Seal keys live under labels of their own (<see cref="SealLabelPrefix"/>): a reference can never name the
    /// domain's CA or OCSP key, whatever a writer of the store puts into it.
    /// </summary>
    public const string SealLabelPrefix = "seal:";

    private static void CheckSealLabel(string label)
    {
        if (!label.StartsWith(SealLabelPrefix, StringComparison.Ordinal) || label.Length == SealLabelPrefix.Length)
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"a seal key's label starts with '{SealLabelPrefix}'");
        }
    }

    /// <summary>The cached token key of a seal reference, checked against it.</summary>
    private HsmSigningKey SealKey(WrappedCredentialKey reference)
    {
        CheckSealReference(reference);
        var key = GetSigningKey(reference.GetTokenObjectLabel());
        if (key.Algorithm != reference.Algorithm || !key.SubjectPublicKeyInfoSpan.SequenceEqual(reference.SubjectPublicKeyInfo))
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.CorruptKeyBlob,
                $"the key labelled '{reference.GetTokenObjectLabel()}' in domain '{Name}' is not the seal's key; refusing to sign with it");
        }

        return key;
    }

    private void CheckSealReference(WrappedCredentialKey reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (!string.Equals(reference.Domain, Name, StringComparison.Ordinal))
        {
            throw new KeyVaultException(KeyVaultErrorKind.WrongDomain, $"the key belongs to domain '{reference.Domain}', not '{Name}'");
        }

        // A PIN-wrapped credential key never signs through here, and a seal's reference never through SignBatchAsync
        // (its empty salt is refused there): the two paths cannot be swapped.
        if (!reference.IsTokenObject)
        {
            throw new KeyVaultException(KeyVaultErrorKind.WrongDomain, "a PIN-wrapped credential key is not a seal key");
        }

        CheckAlgorithm(reference.Algorithm);
        if (reference.SubjectPublicKeyInfo is null || !reference.IsIntact())
        {
            throw new KeyVaultException(KeyVaultErrorKind.CorruptKeyBlob, "the seal key reference does not match its integrity digest");
        }

        CheckSealLabel(reference.GetTokenObjectLabel());
    }
}
