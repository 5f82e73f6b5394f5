using System.Security.Cryptography;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// Seal keys: token objects in a seal domain, signed with by reference. The reference and a PIN-wrapped key can
/// never stand in for each other, a reference names exactly one key, and a destroyed key signs nothing.
/// </summary>
public sealed class SealKeyTests
{
    // One vault on the seal tokens for the class (opened once, like the shared one, and kept for the process).
    private static readonly Lazy<HsmVault> SealVault = new(() => TestVault.Open(
        null, null, TestVault.DomainOptions("seal-qualified", "seal-qualified"), TestVault.DomainOptions("seal-advanced", "seal-advanced")));

    private static HsmVault Vault => SealVault.Value;

    private static KeyDomain Seals => Vault.Domain("seal-qualified");

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, SignatureScheme.EcdsaSha256Der)]
    [InlineData(KeyAlgorithm.Rsa2048, SignatureScheme.RsaPssSha256)]
    public async Task A_seal_key_signs_a_batch_by_reference_and_every_signature_verifies(KeyAlgorithm alg, SignatureScheme scheme)
    {
        var reference = await Seals.CreateSealKeyAsync(NewLabel(), alg, CancellationToken.None);
        Assert.True(reference.IsTokenObject);
        Assert.True(reference.IsIntact());
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 20);

        var signatures = await Seals.SignWithSealKeyAsync(reference, digests, scheme, CancellationToken.None);

        Assert.Equal(20, signatures.Count);
        for (var i = 0; i < digests.Length; i++)
        {
            Assert.True(Verify(reference, digests[i].Span, signatures[i], alg), $"signature {i}");
        }
    }

    [Fact]
    public async Task A_seal_reference_and_a_pin_wrapped_key_cannot_stand_in_for_each_other()
    {
        var seal = await Seals.CreateSealKeyAsync(NewLabel(), KeyAlgorithm.EcP256, CancellationToken.None);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);

        // The person's path with a seal's reference: refused before the token is asked, whatever the PIN.
        var asWrapped = await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignBatchAsync(seal, TestVault.CredentialPin, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, asWrapped.Kind);

        // The seal's path with a person's wrapped key, in its own domain and relabelled to the seal domain.
        var person = await TestVault.Credential("qualified", KeyAlgorithm.EcP256);
        var own = await Assert.ThrowsAsync<KeyVaultException>(() =>
            TestVault.Shared.Domain("qualified").SignWithSealKeyAsync(person, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, own.Kind);
        var moved = await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignWithSealKeyAsync(CredentialKeyTests.Resealed(person with { Domain = Seals.Name }), digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, moved.Kind);

        // A qualified seal's reference in the advanced seal domain.
        var other = await Assert.ThrowsAsync<KeyVaultException>(() =>
            Vault.Domain("seal-advanced").SignWithSealKeyAsync(seal, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, other.Kind);
    }

    [Fact]
    public async Task A_reference_edited_to_name_another_seals_key_signs_nothing()
    {
        var mine = await Seals.CreateSealKeyAsync(NewLabel(), KeyAlgorithm.EcP256, CancellationToken.None);
        var theirs = await Seals.CreateSealKeyAsync(NewLabel(), KeyAlgorithm.EcP256, CancellationToken.None);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);

        // Edited in storage without the digest: damage. With a matching digest: the key under the label is not mine.
        var damaged = mine with { Blob = theirs.Blob };
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignWithSealKeyAsync(damaged, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).Kind);
        var forged = WrappedCredentialKey.TokenObject(mine.Domain, mine.Algorithm, mine.SubjectPublicKeyInfo, theirs.GetTokenObjectLabel());
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignWithSealKeyAsync(forged, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).Kind);

        // A reference to the domain's CA key (any label outside the seal prefix) is refused, however well formed.
        var ca = Seals.GetOrCreateSigningKey("dtrust-ca-test", KeyAlgorithm.EcP256);
        var toCa = WrappedCredentialKey.TokenObject(Seals.Name, KeyAlgorithm.EcP256, ca.SubjectPublicKeyInfo, ca.Label);
        Assert.Equal(KeyVaultErrorKind.InvalidInput, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignWithSealKeyAsync(toCa, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).Kind);
        Assert.Equal(KeyVaultErrorKind.InvalidInput, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.DestroySealKeyAsync(toCa, CancellationToken.None))).Kind);
        Assert.Equal(KeyVaultErrorKind.InvalidInput, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.CreateSealKeyAsync("dtrust-ocsp", KeyAlgorithm.EcP256, CancellationToken.None))).Kind);

        // Destroying by a reference whose public key is not the one under the label destroys nothing.
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.DestroySealKeyAsync(forged, CancellationToken.None))).Kind);
        Assert.Single(await Seals.SignWithSealKeyAsync(theirs, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        // A second key under a label in use is refused: a seal never takes over another's key.
        Assert.Equal(KeyVaultErrorKind.InvalidInput, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.CreateSealKeyAsync(mine.GetTokenObjectLabel(), KeyAlgorithm.EcP256, CancellationToken.None))).Kind);
    }

    [Fact]
    public async Task A_destroyed_seal_key_signs_nothing_here_or_in_another_vault_that_had_it_cached()
    {
        var seal = await Seals.CreateSealKeyAsync(NewLabel(), KeyAlgorithm.EcP256, CancellationToken.None);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        using var node2 = TestVault.Open(null, null, TestVault.DomainOptions("seal-qualified", "seal-qualified"));
        Assert.Single(await node2.Domain("seal-qualified").SignWithSealKeyAsync(seal, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        await Seals.DestroySealKeyAsync(seal, CancellationToken.None);
        await Seals.DestroySealKeyAsync(seal, CancellationToken.None);

        Assert.Equal(KeyVaultErrorKind.KeyNotFound, (await Assert.ThrowsAsync<KeyVaultException>(() =>
            Seals.SignWithSealKeyAsync(seal, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).Kind);
        var cached = await Assert.ThrowsAsync<KeyVaultException>(() =>
            node2.Domain("seal-qualified").SignWithSealKeyAsync(seal, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.KeyNotFound, cached.Kind);
    }

    private static string NewLabel() => "seal:test-" + Guid.NewGuid().ToString("N")[..12];

    private static bool Verify(WrappedCredentialKey key, ReadOnlySpan<byte> digest, byte[] signature, KeyAlgorithm alg)
    {
        if (alg == KeyAlgorithm.EcP256)
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
            return ec.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence);
        }

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        return rsa.VerifyHash(digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
    }
}
