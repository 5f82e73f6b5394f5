using System.Collections.Concurrent;
using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>The <see cref="IKeyDomain"/> contract on the in-memory software backend; needs no HSM.</summary>
public sealed class SoftwareKeyDomainUnitTests : KeyDomainContractTests
{
    // One pair of domains for the run, as the SoftHSM suite shares its tokens: RSA key generation is slow.
    private static readonly Lazy<(SoftwareKeyDomain Domain, SoftwareKeyDomain Other)> Domains = new(() =>
    {
        var domain = new SoftwareKeyDomain("simple", "software-simple");
        var other = new SoftwareKeyDomain("advanced", "software-advanced");
        domain.EnsureMasterKey();
        other.EnsureMasterKey();
        domain.GetOrCreateSigningKey("ca-simple", KeyAlgorithm.EcP256);
        return (domain, other);
    });

    private static readonly ConcurrentDictionary<(string, KeyAlgorithm), Lazy<Task<WrappedCredentialKey>>> Credentials = new();

    protected override IKeyDomain Domain => Domains.Value.Domain;

    protected override IKeyDomain OtherDomain => Domains.Value.Other;

    protected override (string Label, KeyAlgorithm Algorithm) ExistingSigningKey => ("ca-simple", KeyAlgorithm.EcP256);

    protected override byte[] Pin => TestVault.CredentialPin;

    protected override Task<WrappedCredentialKey> CredentialAsync(IKeyDomain domain, KeyAlgorithm alg) =>
        Credentials.GetOrAdd((domain.Name, alg), _ => new Lazy<Task<WrappedCredentialKey>>(
            () => domain.CreateCredentialKeyAsync(alg, Pin, CancellationToken.None))).Value;

    [Fact]
    public async Task Without_set_up_there_is_no_master_key()
    {
        var domain = new SoftwareKeyDomain("simple", "software-unset");

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, Pin, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.KeyNotFound, e.Kind);
        Assert.Equal(KeyVaultErrorKind.KeyNotFound, (await Assert.ThrowsAsync<KeyVaultException>(() => domain.ProbeAsync(CancellationToken.None))).Kind);
    }

    [Fact]
    public async Task A_domain_of_the_same_name_with_another_master_key_cannot_open_the_key()
    {
        var key = await CredentialAsync(Domain, KeyAlgorithm.EcP256);
        var twin = new SoftwareKeyDomain(Domain.Name, "software-twin");
        twin.EnsureMasterKey();

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => twin.SignBatchAsync(
            key, Pin, TestVault.Digests(HashAlgorithmName.SHA256, 1), SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.WrongPin, e.Kind);
    }
}
