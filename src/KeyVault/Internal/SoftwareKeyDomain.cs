using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// An <see cref="IKeyDomain"/> in process memory with .NET crypto, with the HSM domain's wrap semantics: a master
/// key (AES-256), KEK = AES-ECB(master, SHA-256(salt ‖ PIN)) as CKM_AES_ECB_ENCRYPT_DATA derives it, and the PKCS#8
/// private key wrapped with AES key wrap with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD). It exists so that one
/// contract suite can pin what callers may rely on whatever the backend; keys die with the process, so it is for
/// tests only and stays internal.
/// </summary>
internal sealed class SoftwareKeyDomain : IKeyDomain
{
    private readonly Lock _setupLock = new();
    private readonly ConcurrentDictionary<string, SoftwareSigningKey> _signingKeys = new(StringComparer.Ordinal);
    private byte[]? _masterKey;

    public SoftwareKeyDomain(string name, string tokenLabel)
    {
        Name = name;
        TokenLabel = tokenLabel;
    }

    public string Name { get; }

    public string TokenLabel { get; }

    public void EnsureMasterKey()
    {
        lock (_setupLock)
        {
            _masterKey ??= RandomNumberGenerator.GetBytes(32);
        }
    }

    public Task<WrappedCredentialKey> CreateCredentialKeyAsync(KeyAlgorithm alg, ReadOnlyMemory<byte> pin, CancellationToken ct)
    {
        CredentialChecks.Algorithm(alg);
        CredentialChecks.Pin(pin);
        return Run(() =>
        {
            using var key = Generate(alg);
            var spki = key.ExportSubjectPublicKeyInfo();
            return Wrap(alg, spki, key.ExportPkcs8PrivateKey(), pin.Span);
        }, ct);
    }

    public Task<WrappedCredentialKey> RewrapAsync(
        WrappedCredentialKey key, ReadOnlyMemory<byte> oldPin, ReadOnlyMemory<byte> newPin, CancellationToken ct)
    {
        CredentialChecks.Wrapped(key, Name);
        CredentialChecks.Pin(oldPin);
        CredentialChecks.Pin(newPin);
        return Run(() => Wrap(key.Algorithm, key.SubjectPublicKeyInfo, Unwrap(key, oldPin.Span), newPin.Span), ct);
    }

    public Task<IReadOnlyList<byte[]>> SignBatchAsync(
        WrappedCredentialKey key,
        ReadOnlyMemory<byte> pin,
        IReadOnlyList<ReadOnlyMemory<byte>> digests,
        SignatureScheme scheme,
        CancellationToken ct)
    {
        CredentialChecks.Wrapped(key, Name);
        CredentialChecks.Pin(pin);
        CredentialChecks.Batch(key.Algorithm, digests, scheme);
        return Run<IReadOnlyList<byte[]>>(() =>
        {
            using var signer = Import(key.Algorithm, Unwrap(key, pin.Span));
            var signatures = digests.Select(d => Sign(signer, d.Span, scheme)).ToArray();

            // As the HSM domain does: no RSA signature leaves unless the whole batch verifies.
            if (signer is RSA rsa)
            {
                var padding = Schemes.IsPss(scheme) ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
                for (var i = 0; i < signatures.Length; i++)
                {
                    if (!rsa.VerifyHash(digests[i].Span, signatures[i], Schemes.Hash(scheme), padding))
                    {
                        throw new KeyVaultException(
                            KeyVaultErrorKind.HsmError,
                            $"domain '{Name}': RSA signature {i + 1} of {signatures.Length} does not verify against the credential's public key; the batch is withheld");
                    }
                }
            }

            return signatures;
        }, ct);
    }

    public ISigningKey GetSigningKey(string label) =>
        _signingKeys.TryGetValue(CredentialChecks.Label(label), out var key)
            ? key
            : throw new KeyVaultException(
                KeyVaultErrorKind.KeyNotFound,
                $"token '{TokenLabel}' of domain '{Name}' has no signing key labelled '{label}'; run the set-up");

    public ISigningKey GetOrCreateSigningKey(string label, KeyAlgorithm alg)
    {
        CredentialChecks.Algorithm(alg);
        SoftwareSigningKey key;
        lock (_setupLock)
        {
            key = _signingKeys.GetOrAdd(CredentialChecks.Label(label), l =>
            {
                using var generated = Generate(alg);
                return new SoftwareSigningKey(Name, l, alg, generated.ExportSubjectPublicKeyInfo(), generated.ExportPkcs8PrivateKey());
            });
        }

        return key.Algorithm == alg
            ? key
            : throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"signing key '{label}' in domain '{Name}' is {key.Algorithm}, not {alg}");
    }

    public Task ProbeAsync(CancellationToken ct) => Run(MasterKey, ct);

    internal static AsymmetricAlgorithm Generate(KeyAlgorithm alg) => alg switch
    {
        KeyAlgorithm.EcP256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
        KeyAlgorithm.EcP384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
        _ => RSA.Create(Algorithms.KeySizeBits(alg)),
    };

    internal static AsymmetricAlgorithm Import(KeyAlgorithm alg, byte[] pkcs8)
    {
        try
        {
            AsymmetricAlgorithm key = Algorithms.IsEc(alg) ? ECDsa.Create() : RSA.Create();
            key.ImportPkcs8PrivateKey(pkcs8, out _);
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>The digest signed as the HSM domain signs it: ECDSA as r‖s (DER if asked), RSA with the scheme's padding.</summary>
    internal static byte[] Sign(AsymmetricAlgorithm key, ReadOnlySpan<byte> digest, SignatureScheme scheme) => key switch
    {
        ECDsa ec when Schemes.IsDer(scheme) => Schemes.P1363ToDer(ec.SignHash(digest.ToArray())),
        ECDsa ec => ec.SignHash(digest.ToArray()),
        RSA rsa => rsa.SignHash(digest.ToArray(), Schemes.Hash(scheme), Schemes.IsPss(scheme) ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1),
        _ => throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"scheme {scheme} does not fit the key"),
    };

    // Failures travel in the task, as the HSM domain's do after its argument checks.
    private static Task<T> Run<T>(Func<T> work, CancellationToken ct)
    {
        try
        {
            ct.ThrowIfCancellationRequested();
            return Task.FromResult(work());
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    private byte[] MasterKey() => Volatile.Read(ref _masterKey) ?? throw new KeyVaultException(
        KeyVaultErrorKind.KeyNotFound,
        $"token '{TokenLabel}' of domain '{Name}' has no master key; run the set-up (EnsureMasterKey)");

    private WrappedCredentialKey Wrap(KeyAlgorithm alg, byte[] spki, byte[] pkcs8, ReadOnlySpan<byte> pin)
    {
        var salt = RandomNumberGenerator.GetBytes(CredentialChecks.SaltLength);
        try
        {
            using var kek = Kek(salt, pin);
            var blob = kek.EncryptKeyWrapPadded(pkcs8);
            return new(Name, alg, spki, salt, blob, WrappedCredentialKey.ComputeDigest(Name, alg, spki, salt, blob));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private byte[] Unwrap(WrappedCredentialKey key, ReadOnlySpan<byte> pin)
    {
        using var kek = Kek(key.Salt, pin);
        try
        {
            return kek.DecryptKeyWrapPadded(key.Blob);
        }
        catch (CryptographicException e)
        {
            // The blob's digest was checked first, so an unwrap that fails its integrity check is the PIN.
            throw new KeyVaultException(KeyVaultErrorKind.WrongPin, "the PIN does not open this credential key", e);
        }
    }

    private Aes Kek(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> pin)
    {
        var material = new byte[32];
        var value = new byte[32];
        try
        {
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                sha.AppendData(salt);
                sha.AppendData(pin);
                sha.GetHashAndReset(material);
            }

            using (var master = Aes.Create())
            {
                master.Key = MasterKey();
                master.EncryptEcb(material, value, PaddingMode.None);
            }

            var kek = Aes.Create();
            kek.Key = value;
            return kek;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
            CryptographicOperations.ZeroMemory(value);
        }
    }
}
