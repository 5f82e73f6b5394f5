using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// Cached handles (master key, CA/TSA keys) after the token comes back with other handles: the decorator's
/// <see cref="FaultInjectingPkcs11.Reinsert"/> makes every earlier handle invalid, as a re-inserted token would.
/// </summary>
public sealed class HandleRecoveryTests
{
    private static readonly byte[] Digest = SHA256.HashData("handle recovery"u8);

    [Fact]
    public void A_stale_tsa_key_handle_is_looked_up_again_and_the_signature_still_made()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var key = vault.Domain("tsa").GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        Assert.True(Verifies(key, key.SignDigest(Digest, SignatureScheme.RsaPssSha256)));
        var before = key.Handle;
        var finds = spy!.Calls("C_FindObjects");

        spy.Reinsert();
        var signature = key.SignDigest(Digest, SignatureScheme.RsaPssSha256);

        Assert.True(Verifies(key, signature));
        Assert.Equal(1, spy.StaleHandleRefusals);
        Assert.True(spy.Calls("C_FindObjects") > finds, "the key was not looked up again");
        Assert.NotEqual(before, key.Handle);

        // From now on the new handle is used without another lookup.
        finds = spy.Calls("C_FindObjects");
        Assert.True(Verifies(key, key.SignDigest(Digest, SignatureScheme.RsaPssSha256)));
        Assert.Equal(finds, spy.Calls("C_FindObjects"));
        Assert.Equal(1, spy.StaleHandleRefusals);
    }

    [Fact]
    public async Task After_a_device_fault_cached_handles_are_looked_up_before_they_are_used_again()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 2));
        var domain = vault.Domain("tsa");
        var key = domain.GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        Assert.True(Verifies(key, await key.SignDigestAsync(Digest, SignatureScheme.RsaPkcs1Sha256, CancellationToken.None)));

        // The token is pulled mid-signature and comes back with new handles.
        spy!.Inject("C_Sign", CK.CKR_DEVICE_REMOVED);
        var e = await Assert.ThrowsAsync<KeyVaultException>(
            async () => await key.SignDigestAsync(Digest, SignatureScheme.RsaPkcs1Sha256, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, e.Kind);
        spy.Reinsert();

        // Recovered without a restart, and without first trying the dead handle.
        for (var i = 0; i < 3; i++)
        {
            Assert.True(Verifies(key, await key.SignDigestAsync(Digest, SignatureScheme.RsaPkcs1Sha256, CancellationToken.None)));
        }

        Assert.Equal(0, spy.StaleHandleRefusals);
    }

    [Fact]
    public async Task A_stale_master_key_handle_is_looked_up_again_for_credential_signing()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var domain = vault.Domain("tsa");
        var credential = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 2);

        spy!.Reinsert();
        var signatures = await domain.SignBatchAsync(credential, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None);

        Assert.True(CredentialKeyTests.Verify(credential, digests[1].ToArray(), signatures[1], SignatureScheme.EcdsaSha256Der));
        Assert.Equal(1, spy.StaleHandleRefusals);
    }

    private static bool Verifies(HsmSigningKey key, byte[] signature)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        var padding = signature.Length == 256 && rsa.VerifyHash(Digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
            ? RSASignaturePadding.Pss
            : RSASignaturePadding.Pkcs1;
        return rsa.VerifyHash(Digest, signature, HashAlgorithmName.SHA256, padding);
    }
}
