using System.Security.Cryptography;
using DTrust.Cms;
using DTrust.Core;
using DTrust.KeyVault;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Policy;
using DTrust.SigningServer.Signing;
using DTrust.Store;

namespace DTrust.Server.Tests;

/// <summary>The signing policy alone: no server, HSM, Redis or store; the time and the options are parameters.</summary>
public sealed class SigningPolicyUnitTests
{
    private static readonly DateTimeOffset Now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static CredentialRecord Credential(
        CredentialStatus status = CredentialStatus.Valid, CredentialLevel level = CredentialLevel.Qualified,
        DateTimeOffset? notAfter = null, DateTimeOffset? consent = null, int unlocks = 0) => new()
        {
            Id = "cred-1",
            Tenant = "t",
            UserId = "u",
            Level = level,
            Algorithm = KeyAlgorithm.EcP256,
            Status = status,
            Certificate = [],
            SerialHex = "01",
            NotAfter = notAfter ?? Now.AddYears(1),
            Key = new WrappedCredentialKey("qualified", KeyAlgorithm.EcP256, [], [], [], []),
            OneFactorConsentAt = consent,
            Unlocks = unlocks,
        };

    private static UserRecord Holder(Identification? identification, bool stale = false) => new()
    {
        Tenant = "t",
        UserId = "u",
        GivenName = "Erika",
        Surname = "Mustermann",
        Country = "DE",
        Phone = "+4930123456",
        Identification = identification,
        IdentificationStale = stale,
    };

    private static Identification Identified(DateTimeOffset validUntil) => new(IdentificationMethod.VideoIdent, Now.AddDays(-10), validUntil);

    private static ReadOnlyMemory<byte>[] Hashes(int count, int length) =>
        [.. Enumerable.Range(0, count).Select(i => (ReadOnlyMemory<byte>)Enumerable.Repeat((byte)i, length).ToArray())];

    // ---- Status and expiry ----

    [Theory]
    [InlineData(CredentialStatus.Valid)]
    [InlineData(CredentialStatus.Locked)]
    [InlineData(CredentialStatus.NotActivated)]
    public void A_credential_past_its_certificate_is_expired(CredentialStatus status)
    {
        Assert.Equal(CredentialStatus.Expired, SigningPolicy.Effective(Credential(status, notAfter: Now), Now).Status);
        Assert.Equal(CredentialStatus.Expired, SigningPolicy.Effective(Credential(status, notAfter: Now.AddSeconds(-1)), Now).Status);
        Assert.Equal(status, SigningPolicy.Effective(Credential(status, notAfter: Now.AddSeconds(1)), Now).Status);
    }

    [Theory]
    [InlineData(CredentialStatus.RevocationInProgress)]
    [InlineData(CredentialStatus.Revoked)]
    public void A_revoked_credential_stays_revoked_after_its_certificate_ends(CredentialStatus status)
    {
        Assert.Equal(status, SigningPolicy.Effective(Credential(status, notAfter: Now.AddDays(-1)), Now).Status);
    }

    [Fact]
    public void Only_a_valid_credential_may_sign()
    {
        Assert.Null(SigningPolicy.StatusProblem(Credential(CredentialStatus.Valid)));
        Assert.Equal("the credential is LOCKED", SigningPolicy.StatusProblem(Credential(CredentialStatus.Locked)));
        Assert.Equal("the credential is NOT_ACTIVATED", SigningPolicy.StatusProblem(Credential(CredentialStatus.NotActivated)));
        Assert.Equal("the credential is REVOCATION_IN_PROGRESS", SigningPolicy.StatusProblem(Credential(CredentialStatus.RevocationInProgress)));
        Assert.Equal("the credential is REVOKED", SigningPolicy.StatusProblem(Credential(CredentialStatus.Revoked)));
        Assert.Equal("the credential is EXPIRED", SigningPolicy.StatusProblem(SigningPolicy.Effective(Credential(notAfter: Now), Now)));
    }

    // ---- Identification ----

    [Fact]
    public void A_holder_signs_only_with_current_unchanged_identification()
    {
        Assert.Null(SigningPolicy.IdentificationProblem(Holder(Identified(Now.AddDays(1))), Now));
        Assert.Equal("the holder is unknown", SigningPolicy.IdentificationProblem(null, Now));
        Assert.Equal("the holder has no identification evidence", SigningPolicy.IdentificationProblem(Holder(null), Now));
        Assert.Equal("the holder's identification has expired", SigningPolicy.IdentificationProblem(Holder(Identified(Now)), Now));
        Assert.StartsWith(
            "the holder's identity data changed after identification",
            SigningPolicy.IdentificationProblem(Holder(Identified(Now.AddDays(1)), stale: true), Now), StringComparison.Ordinal);
    }

    // ---- Factors per level, consent, modes, domains ----

    [Fact]
    public void Qualified_always_needs_the_code_even_with_a_consent_recorded()
    {
        Assert.Equal(SmsCodeFactor.FactorName, SigningPolicy.RequiredFactor(Credential(level: CredentialLevel.Qualified)));
        Assert.Equal(SmsCodeFactor.FactorName, SigningPolicy.RequiredFactor(Credential(level: CredentialLevel.Qualified, consent: Now)));
        Assert.False(SigningPolicy.MayConsentToOneFactor(CredentialLevel.Qualified));
    }

    [Fact]
    public void Advanced_needs_the_code_unless_the_holder_consented_to_one_factor()
    {
        Assert.Equal(SmsCodeFactor.FactorName, SigningPolicy.RequiredFactor(Credential(level: CredentialLevel.Advanced)));
        Assert.Null(SigningPolicy.RequiredFactor(Credential(level: CredentialLevel.Advanced, consent: Now.AddDays(-1))));
        Assert.True(SigningPolicy.MayConsentToOneFactor(CredentialLevel.Advanced));
        Assert.True(SigningFlow.NeedsOtp(Credential(level: CredentialLevel.Advanced)));
        Assert.False(SigningFlow.NeedsOtp(Credential(level: CredentialLevel.Advanced, consent: Now)));
    }

    [Fact]
    public void Simple_needs_the_pin_alone()
    {
        Assert.Null(SigningPolicy.RequiredFactor(Credential(level: CredentialLevel.Simple)));
        Assert.False(SigningPolicy.MayConsentToOneFactor(CredentialLevel.Simple));
        Assert.Equal(SmsCodeFactor.FactorName, SigningPolicy.DefaultFactor);
    }

    [Fact]
    public void Every_level_signs_in_its_own_key_domain_and_qualified_only_by_holder_approval()
    {
        var domains = new HashSet<string>(StringComparer.Ordinal);
        foreach (var level in new[] { CredentialLevel.Simple, CredentialLevel.Advanced, CredentialLevel.Qualified })
        {
            Assert.Contains(SigningMode.HolderApproval, SigningPolicy.AllowedModes(level));
            Assert.True(domains.Add(SigningPolicy.KeyDomain(level)));
        }

        Assert.Equal([SigningMode.Explicit, SigningMode.HolderApproval], SigningPolicy.AllowedModes(CredentialLevel.Advanced));
        Assert.Equal([SigningMode.HolderApproval], SigningPolicy.AllowedModes(CredentialLevel.Qualified));
        Assert.Contains(SigningMode.Explicit, SigningPolicy.AllowedModes(CredentialLevel.Qualified, explicitQualified: true));
        Assert.Equal("qualified", SigningPolicy.KeyDomain(CredentialLevel.Qualified));
    }

    [Fact]
    public void The_page_offers_a_passkey_or_the_code_exactly_where_a_second_factor_is_needed()
    {
        Assert.Equal(["passkey", "sms"], SigningPolicy.PageFactors(Credential(level: CredentialLevel.Qualified)));
        Assert.Empty(SigningPolicy.PageFactors(Credential(level: CredentialLevel.Simple)));
        Assert.Empty(SigningPolicy.PageFactors(Credential(level: CredentialLevel.Advanced) with { OneFactorConsentAt = DateTimeOffset.UnixEpoch }));
    }

    [Theory]
    [InlineData("https://partner.example/done", false, true)]
    [InlineData("http://partner.example/done", false, false)]
    [InlineData("http://localhost:8080/done", true, true)]
    [InlineData("http://localhost:8080/done", false, false)]
    [InlineData("https://user:pw@partner.example/", false, false)]
    [InlineData("https://partner.example/#frag", false, false)]
    [InlineData("/relative", false, false)]
    public void Return_urls_are_absolute_https_without_credentials(string url, bool development, bool ok) =>
        Assert.Equal(ok, SigningPolicy.ReturnUrlProblem(url, development) is null);

    [Fact]
    public void Labels_are_one_per_hash_short_and_plain()
    {
        Assert.Null(SigningPolicy.LabelsProblem([], 3));
        Assert.Null(SigningPolicy.LabelsProblem(["a.pdf", "b.pdf"], 2));
        Assert.NotNull(SigningPolicy.LabelsProblem(["a.pdf"], 2));
        Assert.NotNull(SigningPolicy.LabelsProblem([new string('x', 101)], 1));
        Assert.NotNull(SigningPolicy.LabelsProblem(["a\u202Egpj.exe"], 1));
    }

    // ---- Limits ----

    [Fact]
    public void The_day_cap_of_wrong_responses_locks_and_pins_and_unlocks_are_limited()
    {
        var options = new SigningOptions { OtpFailuresPerDay = 10, UnlocksPerCredential = 3 };
        Assert.True(SigningPolicy.FactorGuessesLeft(9, options));
        Assert.False(SigningPolicy.LocksAfterWrongResponses(9, options));
        Assert.False(SigningPolicy.FactorGuessesLeft(10, options));
        Assert.True(SigningPolicy.LocksAfterWrongResponses(10, options));
        Assert.True(SigningPolicy.UnlocksLeft(Credential(unlocks: 2), options));
        Assert.False(SigningPolicy.UnlocksLeft(Credential(unlocks: 3), options));
        Assert.Equal(5, SigningPolicy.PinAttempts);
    }

    [Fact]
    public void Descriptions_without_layout_characters_up_to_200()
    {
        Assert.Null(SigningPolicy.DescriptionProblem(null));
        Assert.Null(SigningPolicy.DescriptionProblem(new string('x', 200)));
        Assert.Equal("description is longer than 200 characters", SigningPolicy.DescriptionProblem(new string('x', 201)));
        foreach (var bad in new[] { "a\nb", "a\u202Eb", "a\u2028b", "a\u200Bb", "a\u001Bb" })
        {
            Assert.Equal("description contains control characters", SigningPolicy.DescriptionProblem(bad));
        }
    }

    // ---- Hashes ----

    [Fact]
    public void Hash_lists_need_1_to_max_hashes_of_the_algorithms_length()
    {
        Assert.Null(SigningPolicy.HashListProblem(Hashes(1, 32), HashAlgorithmName.SHA256, 100));
        Assert.Null(SigningPolicy.HashListProblem(Hashes(100, 48), HashAlgorithmName.SHA384, 100));
        Assert.Null(SigningPolicy.HashListProblem(Hashes(2, 64), HashAlgorithmName.SHA512, 100));
        Assert.Equal("send 1 to 100 hashes", SigningPolicy.HashListProblem([], HashAlgorithmName.SHA256, 100));
        Assert.Equal("send 1 to 100 hashes", SigningPolicy.HashListProblem(Hashes(101, 32), HashAlgorithmName.SHA256, 100));
        Assert.Equal(
            "hash 0 has 32 bytes; SHA512 hashes have 64", SigningPolicy.HashListProblem(Hashes(1, 32), HashAlgorithmName.SHA512, 100));
    }

    [Fact]
    public void The_list_digest_binds_algorithm_order_and_count()
    {
        var a = (ReadOnlyMemory<byte>)Enumerable.Repeat((byte)1, 32).ToArray();
        var b = (ReadOnlyMemory<byte>)Enumerable.Repeat((byte)2, 32).ToArray();
        var digest = SigningPolicy.ListDigest([a, b], HashAlgorithmName.SHA256);
        Assert.Equal(digest, SigningPolicy.ListDigest([a, b], HashAlgorithmName.SHA256));
        Assert.NotEqual(digest, SigningPolicy.ListDigest([b, a], HashAlgorithmName.SHA256));
        Assert.NotEqual(digest, SigningPolicy.ListDigest([a, b, b], HashAlgorithmName.SHA256));
        Assert.NotEqual(digest, SigningPolicy.ListDigest([a], HashAlgorithmName.SHA256));
        Assert.Equal(64, digest.Length);
    }

    // ---- Schemes ----

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, "SHA256", false, false, SignatureScheme.EcdsaSha256Der)]
    [InlineData(KeyAlgorithm.EcP384, "SHA384", true, false, SignatureScheme.EcdsaSha384Der)]
    [InlineData(KeyAlgorithm.EcP256, "SHA512", false, true, SignatureScheme.EcdsaSha512P1363)]
    [InlineData(KeyAlgorithm.EcP384, "SHA256", false, true, SignatureScheme.EcdsaSha256P1363)]
    [InlineData(KeyAlgorithm.Rsa3072, "SHA256", false, false, SignatureScheme.RsaPssSha256)]
    [InlineData(KeyAlgorithm.Rsa3072, "SHA384", true, false, SignatureScheme.RsaPkcs1Sha384)]
    [InlineData(KeyAlgorithm.Rsa3072, "SHA512", true, true, SignatureScheme.RsaPkcs1Sha512)]
    [InlineData(KeyAlgorithm.Rsa3072, "SHA512", false, true, SignatureScheme.RsaPssSha512)]
    public void The_scheme_follows_key_hash_and_encoding(KeyAlgorithm key, string hash, bool pkcs1, bool p1363, SignatureScheme expected)
    {
        Assert.Equal(expected, SigningPolicy.Scheme(key, new HashAlgorithmName(hash), pkcs1, p1363));
    }

    [Fact]
    public void Cms_uses_der_ecdsa_and_pss_unless_pkcs1_is_asked()
    {
        Assert.Equal(CmsSignatureScheme.Ecdsa, SigningPolicy.CmsScheme(KeyAlgorithm.EcP256, pkcs1: true));
        Assert.Equal(CmsSignatureScheme.RsaPss, SigningPolicy.CmsScheme(KeyAlgorithm.Rsa3072, pkcs1: false));
        Assert.Equal(CmsSignatureScheme.RsaPkcs1, SigningPolicy.CmsScheme(KeyAlgorithm.Rsa3072, pkcs1: true));
        Assert.True(SigningPolicy.UseP1363(asked: true, cms: false));
        Assert.False(SigningPolicy.UseP1363(asked: true, cms: true));
        Assert.False(SigningPolicy.UseP1363(asked: false, cms: false));
    }
}
