using System.Security.Cryptography;
using DTrust.KeyVault.Internal;

namespace DTrust.KeyVault;

// Signing with a credential key: one unwrap per batch, and no RSA signature leaves before it verified.
public sealed partial class KeyDomain
{
    /// <summary>
    /// Unwraps the credential key once and signs every digest with it. Digests must have the scheme's hash length;
    /// the result holds one signature per digest, in order. Every RSA signature is verified against the key's public
    /// half before any leaves: one RSA-CRT computation fault, on any signature of a batch, gives the private key away
    /// (Boneh-DeMillo-Lipton), so a batch with a signature that does not verify is withheld whole (HsmError).
    /// </summary>
    public Task<IReadOnlyList<byte[]>> SignBatchAsync(
        WrappedCredentialKey key,
        ReadOnlyMemory<byte> pin,
        IReadOnlyList<ReadOnlyMemory<byte>> digests,
        SignatureScheme scheme,
        CancellationToken ct)
    {
        CheckWrapped(key);
        CheckPin(pin);
        CredentialChecks.Batch(key.Algorithm, digests, scheme);
        var mechanism = Schemes.Mechanism(scheme);
        var pkcs1 = !Schemes.IsEcdsa(scheme) && !Schemes.IsPss(scheme);
        var hash = Schemes.Hash(scheme);
        var der = Schemes.IsDer(scheme);
        return RunAsync<IReadOnlyList<byte[]>>("credential signing", lease =>
        {
            ulong kek = 0, priv = 0;
            try
            {
                kek = DeriveKek(lease.Handle, key.Salt, pin.Span);
                priv = Unwrap(lease, kek, key, pin.Span, forRewrap: false);
                var signatures = new byte[digests.Count][];
                for (var i = 0; i < digests.Count; i++)
                {
                    var input = pkcs1 ? Schemes.DigestInfo(hash, digests[i].Span) : digests[i].ToArray();
                    var raw = SignOnce(lease.Handle, mechanism, priv, key.Algorithm, input);
                    signatures[i] = der ? Schemes.P1363ToDer(raw) : raw;
                }

                if (!Schemes.IsEcdsa(scheme))
                {
                    RequireRsaSignaturesVerify(lease, key, digests, signatures, hash, pkcs1 ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss);
                }

                return signatures;
            }
            finally
            {
                DestroyAll(lease, priv, kek);
            }
        }, ct);
    }

    private void RequireRsaSignaturesVerify(
        SessionLease lease, WrappedCredentialKey key, IReadOnlyList<ReadOnlyMemory<byte>> digests, byte[][] signatures,
        HashAlgorithmName hash, RSASignaturePadding padding)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        for (var i = 0; i < signatures.Length; i++)
        {
            if (!rsa.VerifyHash(digests[i].Span, signatures[i], hash, padding))
            {
                Array.ForEach(signatures, s => CryptographicOperations.ZeroMemory(s));
                lease.MarkFaulty($"RSA signature {i + 1} of {signatures.Length} did not verify", deviceWide: false);
                throw new KeyVaultException(
                    KeyVaultErrorKind.HsmError,
                    $"domain '{Name}': the HSM's RSA signature {i + 1} of {signatures.Length} does not verify against the credential's public key; the batch is withheld");
            }
        }
    }
}
