namespace DTrust.KeyVault.Tests;

/// <summary>The <see cref="IKeyDomain"/> contract on the PKCS#11 backend, over real SoftHSM2 tokens.</summary>
public sealed class SoftHsmKeyDomainTests : KeyDomainContractTests
{
    protected override IKeyDomain Domain => TestVault.Shared.Domain("simple");

    protected override IKeyDomain OtherDomain => TestVault.Shared.Domain("advanced");

    protected override (string Label, KeyAlgorithm Algorithm) ExistingSigningKey => TestVault.SigningKeys["simple"];

    protected override byte[] Pin => TestVault.CredentialPin;

    protected override Task<WrappedCredentialKey> CredentialAsync(IKeyDomain domain, KeyAlgorithm alg) =>
        TestVault.Credential(domain.Name, alg);
}
