using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>Advanced and qualified keys never meet: blobs, sessions and configuration.</summary>
public sealed class SeparationTests
{
    [Theory]
    [InlineData("qualified", "advanced")]
    [InlineData("advanced", "qualified")]
    public async Task A_blob_from_one_domain_does_not_unwrap_in_another_even_with_the_right_pin(string from, string to)
    {
        var key = await TestVault.Shared.Domain(from)
            .CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var target = TestVault.Shared.Domain(to);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);

        var honest = await Assert.ThrowsAsync<KeyVaultException>(() => target.SignBatchAsync(
            key, TestVault.CredentialPin, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, honest.Kind);

        // Relabelled with a matching digest, the blob reaches the other token's HSM, whose master key cannot open it.
        var relabelled = CredentialKeyTests.Resealed(key with { Domain = to });
        var forged = await Assert.ThrowsAsync<KeyVaultException>(() => target.SignBatchAsync(
            relabelled, TestVault.CredentialPin, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, forged.Kind);

        // And directly at the PKCS#11 level: unwrap under the target's KEK fails.
        var rv = TestVault.WithSession(target, (p11, s) =>
        {
            var kek = target.DeriveKek(s, key.Salt, TestVault.CredentialPin);
            try
            {
                var e = Assert.Throws<Pkcs11Exception>(() => p11.UnwrapKey(
                    s, new Mechanism(CK.CKM_AES_KEY_WRAP_PAD), kek, key.Blob, Internal.Templates.Unwrapped(key.Algorithm, false)));
                return e.ReturnValue;
            }
            finally
            {
                p11.DestroyObject(s, kek);
            }
        });
        Assert.Equal(CK.CKR_GENERAL_ERROR, rv);
    }

    [Fact]
    public void Every_session_of_a_domain_is_on_that_domains_token()
    {
        foreach (var domain in TestVault.Shared.Domains)
        {
            var handles = domain.Pool.IdleHandles;
            Assert.NotEmpty(handles);
            foreach (var handle in handles)
            {
                var slot = domain.Pkcs11.GetSessionInfo(handle).SlotId;
                Assert.Equal(domain.SlotId, slot);
                Assert.Equal(domain.TokenLabel, domain.Pkcs11.GetTokenInfo(slot).Label);
            }
        }

        var slots = TestVault.Shared.Domains.Select(d => d.SlotId).ToList();
        Assert.Equal(slots.Count, slots.Distinct().Count());
    }

    [Fact]
    public async Task Operations_of_a_domain_only_touch_sessions_on_its_token()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(
            p11 => spy = new FaultInjectingPkcs11(p11),
            null,
            TestVault.DomainOptions("advanced", "advanced", 2),
            TestVault.DomainOptions("qualified", "qualified", 2));
        var advanced = vault.Domain("advanced");
        spy!.UsedSessions.Clear(); // opening logged every session in; count only what the operations touch
        var key = await advanced.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        await advanced.SignBatchAsync(
            key, TestVault.CredentialPin, TestVault.Digests(HashAlgorithmName.SHA256, 2), SignatureScheme.EcdsaSha256Der, CancellationToken.None);
        advanced.GetSigningKey(TestVault.SigningKeys["advanced"].Label).CreateAlgorithm().Dispose();

        var qualifiedSessions = spy!.OpenSessions.Where(s => s.Value == vault.Domain("qualified").SlotId).Select(s => s.Key).ToHashSet();
        Assert.Equal(2, qualifiedSessions.Count);
        Assert.DoesNotContain(spy.UsedSessions.Keys, qualifiedSessions.Contains);
    }

    [Fact]
    public void Configuration_binding_two_domains_to_one_token_is_refused_naming_both()
    {
        var e = Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(
            TestVault.DomainOptions("advanced", "advanced"), TestVault.DomainOptions("qualified", "advanced"))));
        Assert.Equal(KeyVaultErrorKind.Configuration, e.Kind);
        Assert.Contains("'advanced'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'qualified'", e.Message, StringComparison.Ordinal);

        // The same token named once by label and once by label and serial is the same token.
        var serial = TestVault.Shared.Domain("advanced").Pkcs11.GetTokenInfo(TestVault.Shared.Domain("advanced").SlotId).SerialNumber;
        var withSerial = TestVault.DomainOptions("qualified", "advanced");
        withSerial.TokenSerial = serial;
        var e2 = Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(
            TestVault.DomainOptions("advanced", "advanced"), withSerial)));
        Assert.Equal(KeyVaultErrorKind.Configuration, e2.Kind);
        Assert.Contains("'qualified'", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_tokens_and_incomplete_options_are_configuration_errors()
    {
        var missing = Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(TestVault.DomainOptions("x", "no-such-token"))));
        Assert.Equal(KeyVaultErrorKind.Configuration, missing.Kind);
        Assert.Contains("no-such-token", missing.Message, StringComparison.Ordinal);

        var wrongSerial = TestVault.DomainOptions("simple", "simple");
        wrongSerial.TokenSerial = "0000";
        Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(wrongSerial))).Kind);

        var noPin = new KeyDomainOptions { Name = "simple", TokenLabel = "simple" };
        Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(noPin))).Kind);
        Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(() => TestVault.Shared.Domain("nope")).Kind);
    }
}
