using System.Security.Cryptography;
using DTrust.KeyVault.Internal;

namespace DTrust.KeyVault;

// Credential keys: generated in the HSM as session objects, out of it only wrapped under a PIN's KEK, and checked
// for their domain and for storage damage before the HSM is asked to unwrap them.
public sealed partial class KeyDomain
{
    private const int SaltLength = CredentialChecks.SaltLength;

    /// <summary>
    /// Generates a credential key pair in the HSM and returns it wrapped under the KEK of <paramref name="pin"/>.
    /// The private key exists in the HSM only as a session object for the duration of this call.
    /// </summary>
    public Task<WrappedCredentialKey> CreateCredentialKeyAsync(KeyAlgorithm alg, ReadOnlyMemory<byte> pin, CancellationToken ct)
    {
        CheckAlgorithm(alg);
        CheckPin(pin);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        return RunAsync("credential key creation", lease =>
        {
            ulong pub = 0, priv = 0, kek = 0;
            try
            {
                var (mechanism, _) = Algorithms.Generation(alg);
                (pub, priv) = _p11.GenerateKeyPair(
                    lease.Handle,
                    mechanism,
                    Templates.PublicKey(alg, token: false, label: null, id: null),
                    Templates.PrivateKey(token: false, extractable: true, label: null, id: null));
                kek = DeriveKek(lease.Handle, salt, pin.Span);
                var blob = _p11.WrapKey(lease.Handle, Templates.KeyWrap, kek, priv);
                var spki = Algorithms.ReadSubjectPublicKeyInfo(_p11, lease.Handle, pub, alg);
                return Seal(alg, spki, salt, blob);
            }
            finally
            {
                DestroyAll(lease, priv, pub, kek);
            }
        }, ct);
    }

    /// <summary>Re-wraps a credential key under a new PIN (transport PIN to activation PIN) with a fresh salt.</summary>
    public Task<WrappedCredentialKey> RewrapAsync(
        WrappedCredentialKey key, ReadOnlyMemory<byte> oldPin, ReadOnlyMemory<byte> newPin, CancellationToken ct)
    {
        CheckWrapped(key);
        CheckPin(oldPin);
        CheckPin(newPin);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        return RunAsync("credential key re-wrap", lease =>
        {
            ulong oldKek = 0, priv = 0, newKek = 0;
            try
            {
                oldKek = DeriveKek(lease.Handle, key.Salt, oldPin.Span);
                priv = Unwrap(lease, oldKek, key, oldPin.Span, forRewrap: true);
                newKek = DeriveKek(lease.Handle, salt, newPin.Span);
                var blob = _p11.WrapKey(lease.Handle, Templates.KeyWrap, newKek, priv);
                return Seal(key.Algorithm, key.SubjectPublicKeyInfo, salt, blob);
            }
            finally
            {
                DestroyAll(lease, priv, oldKek, newKek);
            }
        }, ct);
    }

    private void CheckWrapped(WrappedCredentialKey key) => CredentialChecks.Wrapped(key, Name);

    private WrappedCredentialKey Seal(KeyAlgorithm alg, byte[] spki, byte[] salt, byte[] blob) =>
        new(Name, alg, spki, salt, blob, WrappedCredentialKey.ComputeDigest(Name, alg, spki, salt, blob));
}
