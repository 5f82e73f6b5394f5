using System.Security.Cryptography;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// What every <see cref="IKeyDomain"/> backend promises its callers, run against each backend: signatures that verify
/// against the wrapped key's public key, re-wrap under a new PIN, and the same error kinds for the same mistakes.
/// </summary>
public abstract class KeyDomainContractTests
{
    /// <summary>The domain under test, with its master key and <see cref="ExistingSigningKey"/> set up.</summary>
    protected abstract IKeyDomain Domain { get; }

    /// <summary>A second domain of the same backend, for keys that must not cross over.</summary>
    protected abstract IKeyDomain OtherDomain { get; }

    /// <summary>A signing key <see cref="Domain"/> already holds (the contract suite makes no token objects).</summary>
    protected abstract (string Label, KeyAlgorithm Algorithm) ExistingSigningKey { get; }

    /// <summary>The PIN the keys of <see cref="CredentialAsync"/> are wrapped under.</summary>
    protected abstract byte[] Pin { get; }

    /// <summary>A credential key of <see cref="Domain"/> under <see cref="Pin"/> (backends may hand out a cached one).</summary>
    protected abstract Task<WrappedCredentialKey> CredentialAsync(IKeyDomain domain, KeyAlgorithm alg);

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, SignatureScheme.EcdsaSha256Der)]
    [InlineData(KeyAlgorithm.EcP256, SignatureScheme.EcdsaSha256P1363)]
    [InlineData(KeyAlgorithm.Rsa2048, SignatureScheme.RsaPkcs1Sha256)]
    [InlineData(KeyAlgorithm.Rsa2048, SignatureScheme.RsaPssSha384)]
    public async Task A_batch_signs_every_digest_in_order_with_the_wrapped_key(KeyAlgorithm alg, SignatureScheme scheme)
    {
        var key = await CredentialAsync(Domain, alg);
        var hash = scheme is SignatureScheme.RsaPssSha384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
        var digests = TestVault.Digests(hash, 3);

        var signatures = await Domain.SignBatchAsync(key, Pin, digests, scheme, CancellationToken.None);

        Assert.Equal(Domain.Name, key.Domain);
        Assert.Equal(alg, key.Algorithm);
        Assert.Equal(3, signatures.Count);
        for (var i = 0; i < digests.Length; i++)
        {
            Assert.True(Verifies(key.SubjectPublicKeyInfo, alg, digests[i], signatures[i], scheme, hash), $"signature {i} does not verify");
        }

        Assert.False(Verifies(key.SubjectPublicKeyInfo, alg, digests[1], signatures[0], scheme, hash));
    }

    [Fact]
    public async Task A_wrong_pin_is_WrongPin()
    {
        var key = await CredentialAsync(Domain, KeyAlgorithm.EcP256);

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.SignBatchAsync(
            key, "999999"u8.ToArray(), TestVault.Digests(HashAlgorithmName.SHA256, 1), SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.WrongPin, e.Kind);
        Assert.False(e.IsTransient);
    }

    [Fact]
    public async Task Rewrap_moves_the_key_to_the_new_pin_with_a_fresh_salt()
    {
        var key = await Domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, "111111"u8.ToArray(), CancellationToken.None);
        var newPin = "24682468"u8.ToArray();

        var rewrapped = await Domain.RewrapAsync(key, "111111"u8.ToArray(), newPin, CancellationToken.None);

        Assert.Equal(key.SubjectPublicKeyInfo, rewrapped.SubjectPublicKeyInfo);
        Assert.NotEqual(key.Salt, rewrapped.Salt);
        Assert.True(rewrapped.IsIntact());
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        var signature = (await Domain.SignBatchAsync(rewrapped, newPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None))[0];
        Assert.True(Verifies(key.SubjectPublicKeyInfo, KeyAlgorithm.EcP256, digests[0], signature, SignatureScheme.EcdsaSha256Der, HashAlgorithmName.SHA256));
        var e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.SignBatchAsync(
            rewrapped, "111111"u8.ToArray(), digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, e.Kind);
        e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.RewrapAsync(key, newPin, newPin, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, e.Kind);
    }

    [Fact]
    public async Task A_damaged_blob_is_CorruptKeyBlob_not_WrongPin()
    {
        var key = await CredentialAsync(Domain, KeyAlgorithm.EcP256);
        var blob = (byte[])key.Blob.Clone();
        blob[^1] ^= 1;

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.SignBatchAsync(
            key with { Blob = blob }, Pin, TestVault.Digests(HashAlgorithmName.SHA256, 1), SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, e.Kind);
    }

    [Fact]
    public async Task A_key_of_another_domain_is_WrongDomain()
    {
        var key = await CredentialAsync(OtherDomain, KeyAlgorithm.EcP256);

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.SignBatchAsync(
            key, Pin, TestVault.Digests(HashAlgorithmName.SHA256, 1), SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, e.Kind);
        e = await Assert.ThrowsAsync<KeyVaultException>(() => Domain.RewrapAsync(key, Pin, Pin, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, e.Kind);
    }

    [Fact]
    public async Task Bad_arguments_are_InvalidInput()
    {
        var key = await CredentialAsync(Domain, KeyAlgorithm.EcP256);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);

        async Task Refused(Func<Task> call) =>
            Assert.Equal(KeyVaultErrorKind.InvalidInput, (await Assert.ThrowsAsync<KeyVaultException>(call)).Kind);

        await Refused(() => Domain.CreateCredentialKeyAsync((KeyAlgorithm)99, Pin, CancellationToken.None));
        await Refused(() => Domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, ReadOnlyMemory<byte>.Empty, CancellationToken.None));
        await Refused(() => Domain.SignBatchAsync(key, ReadOnlyMemory<byte>.Empty, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        await Refused(() => Domain.SignBatchAsync(key, Pin, [], SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        await Refused(() => Domain.SignBatchAsync(key, Pin, digest, SignatureScheme.EcdsaSha384Der, CancellationToken.None));
        await Refused(() => Domain.SignBatchAsync(key, Pin, digest, SignatureScheme.RsaPkcs1Sha256, CancellationToken.None));
        await Refused(() => Domain.RewrapAsync(key, Pin, ReadOnlyMemory<byte>.Empty, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.InvalidInput, Assert.Throws<KeyVaultException>(() => Domain.GetSigningKey(" ")).Kind);
    }

    [Fact]
    public void Signing_keys_are_found_by_label_and_sign_for_their_public_key()
    {
        var (label, alg) = ExistingSigningKey;

        var key = Domain.GetSigningKey(label);
        var again = Domain.GetOrCreateSigningKey(label, alg);

        Assert.Equal(label, key.Label);
        Assert.Equal(Domain.Name, key.Domain);
        Assert.Equal(alg, key.Algorithm);
        Assert.Equal(key.SubjectPublicKeyInfo, again.SubjectPublicKeyInfo);
        var scheme = alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384 ? SignatureScheme.EcdsaSha256Der : SignatureScheme.RsaPkcs1Sha256;
        var digest = SHA256.HashData("contract"u8);
        Assert.True(Verifies(key.SubjectPublicKeyInfo, alg, digest, key.SignDigest(digest, scheme), scheme, HashAlgorithmName.SHA256));
        using var algorithm = key.CreateAlgorithm();
        var signature = algorithm switch
        {
            ECDsa ec => ec.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence),
            RSA rsa => rsa.SignHash(digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            _ => throw new InvalidOperationException(algorithm.GetType().Name),
        };
        Assert.True(Verifies(key.SubjectPublicKeyInfo, alg, digest, signature, scheme, HashAlgorithmName.SHA256));
    }

    [Fact]
    public async Task Signing_keys_sign_asynchronously()
    {
        var (label, alg) = ExistingSigningKey;
        var key = Domain.GetSigningKey(label);
        var scheme = alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384 ? SignatureScheme.EcdsaSha256P1363 : SignatureScheme.RsaPssSha256;
        var digest = SHA256.HashData("contract async"u8);

        var signature = await key.SignDigestAsync(digest, scheme, CancellationToken.None);

        Assert.True(Verifies(key.SubjectPublicKeyInfo, alg, digest, signature, scheme, HashAlgorithmName.SHA256));
    }

    [Fact]
    public void A_missing_signing_key_is_KeyNotFound_and_another_algorithm_is_Configuration()
    {
        var (label, alg) = ExistingSigningKey;
        var other = alg == KeyAlgorithm.EcP256 ? KeyAlgorithm.EcP384 : KeyAlgorithm.EcP256;

        Assert.Equal(KeyVaultErrorKind.KeyNotFound, Assert.Throws<KeyVaultException>(() => Domain.GetSigningKey("no-such-key")).Kind);
        Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(() => Domain.GetOrCreateSigningKey(label, other)).Kind);
    }

    [Fact]
    public async Task Set_up_is_idempotent_and_the_probe_passes()
    {
        var key = await CredentialAsync(Domain, KeyAlgorithm.EcP256);

        Domain.EnsureMasterKey();
        await Domain.ProbeAsync(CancellationToken.None);

        // A second set-up keeps the master key: keys wrapped before it still open.
        var signatures = await Domain.SignBatchAsync(key, Pin, TestVault.Digests(HashAlgorithmName.SHA256, 1), SignatureScheme.EcdsaSha256Der, CancellationToken.None);
        Assert.Single(signatures);
        Assert.False(string.IsNullOrEmpty(Domain.TokenLabel));
    }

    private static bool Verifies(
        byte[] spki, KeyAlgorithm alg, ReadOnlyMemory<byte> digest, byte[] signature, SignatureScheme scheme, HashAlgorithmName hash)
    {
        if (alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384)
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(spki, out _);
            var format = scheme is SignatureScheme.EcdsaSha256Der or SignatureScheme.EcdsaSha384Der or SignatureScheme.EcdsaSha512Der
                ? DSASignatureFormat.Rfc3279DerSequence
                : DSASignatureFormat.IeeeP1363FixedFieldConcatenation;
            return ec.VerifyHash(digest.Span, signature, format);
        }

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(spki, out _);
        var padding = scheme is SignatureScheme.RsaPssSha256 or SignatureScheme.RsaPssSha384 or SignatureScheme.RsaPssSha512
            ? RSASignaturePadding.Pss
            : RSASignaturePadding.Pkcs1;
        return rsa.VerifyHash(digest.Span, signature, hash, padding);
    }
}
