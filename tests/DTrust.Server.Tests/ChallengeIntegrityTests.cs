using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using StackExchange.Redis;

namespace DTrust.Server.Tests;

/// <summary>
/// Redis is not trusted with who may sign: an attacker who can write to the server's real Redis forges a code-less
/// challenge for a QUALIFIED credential, strips the code from a real one, or re-points a real one at other hashes,
/// and SignHash refuses each. A code-less challenge made under one-factor consent is refused once the consent is
/// withdrawn.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class ChallengeIntegrityTests(ServerFixture fixture)
{
    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    private static RedisKey Key(Credential c, string challengeId) => $"dtrust:{{{c.CredentialId}}}:challenge:{challengeId}";

    private async Task<ConnectionMultiplexer> AttackerAsync() =>
        await ConnectionMultiplexer.ConnectAsync(fixture.Server.Redis.AuthenticatedConfiguration);

    [Fact]
    public async Task A_forged_code_less_challenge_for_a_qualified_credential_is_refused()
    {
        using var op = Operator();
        using var partner = Partner();
        await using var redis = await AttackerAsync();
        var db = redis.GetDatabase();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);

        // A real challenge shows the attacker the layout and the partner's id; the forged one copies it without code.
        var real = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        var fields = await db.HashGetAllAsync(Key(credential, real.ChallengeId));
        Assert.NotEmpty(fields);
        var forged = new AuthorizeSignatureResponse { ChallengeId = "chal-forged-" + Guid.NewGuid().ToString("N") };
        await db.HashSetAsync(Key(credential, forged.ChallengeId),
            [.. fields.Where(f => f.Name != "proof"), new HashEntry("proof", "")]);
        await db.KeyExpireAsync(Key(credential, forged.ChallengeId), TimeSpan.FromMinutes(5));
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, forged, "", hashes)));

        // The real one with its code stripped in place: refused too, and spent.
        await db.HashSetAsync(Key(credential, real.ChallengeId), "proof", "");
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, real, "", hashes)));

        // Without any seal at all (a challenge made from scratch): refused.
        var scratch = new AuthorizeSignatureResponse { ChallengeId = "chal-scratch-" + Guid.NewGuid().ToString("N") };
        await db.HashSetAsync(Key(credential, scratch.ChallengeId),
            [.. fields.Where(f => f.Name != "proof" && f.Name != "seal" && f.Name != "expires"), new HashEntry("proof", "")]);
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, scratch, "", hashes)));
    }

    [Fact]
    public async Task A_challenge_without_a_proof_field_is_void_not_a_wrong_code()
    {
        // What another version of the server wrote (its fields named otherwise): not found, never a wrong code,
        // which would cost attempts and count durably towards the credential's lock.
        using var op = Operator();
        using var partner = Partner();
        await using var redis = await AttackerAsync();
        var db = redis.GetDatabase();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        await db.HashDeleteAsync(Key(credential, challenge.ChallengeId), "proof");

        for (var i = 0; i < 4; i++)
        {
            await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition,
                partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, challenge, "000000", hashes)));
        }

        // Three wrong codes would have voided (deleted) it; it is still there, untouched.
        Assert.True(await db.KeyExistsAsync(Key(credential, challenge.ChallengeId)));
        Assert.Equal(4, Tools.AuditCount(fixture.Server, credential.CredentialId, "signature.sign", "refused: no such challenge"));
    }

    [Theory]
    [InlineData(Level.Qualified)]
    [InlineData(Level.Simple)]
    public async Task A_real_challenge_re_pointed_at_other_hashes_is_refused(Level level)
    {
        using var op = Operator();
        using var partner = Partner();
        await using var redis = await AttackerAsync();
        var db = redis.GetDatabase();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, level);
        var approved = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var other = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, approved));
        var otp = level == Level.Qualified ? await SigningFlowTests.OtpAsync(fixture.Server, challenge.ChallengeId) : "";

        // The attacker takes the list digest and count of a challenge for other hashes (made by the partner for an
        // unrelated request, never sent to this holder) and writes them into the one the holder approved.
        var decoy = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, other));
        var decoyFields = await db.HashGetAsync(Key(credential, decoy.ChallengeId), ["digest", "count"]);
        await db.HashSetAsync(Key(credential, challenge.ChallengeId),
            [new HashEntry("digest", decoyFields[0]), new HashEntry("count", decoyFields[1])]);

        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, challenge, otp, other)));
    }

    [Fact]
    public async Task A_challenge_whose_expiry_is_pushed_back_in_redis_is_refused()
    {
        using var op = Operator();
        using var partner = Partner();
        await using var redis = await AttackerAsync();
        var db = redis.GetDatabase();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Simple);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));

        // Keeping a challenge alive past its time means changing the sealed expiry (the node checks it, not the TTL).
        var later = DateTimeOffset.UtcNow.AddDays(30).ToUnixTimeMilliseconds();
        await db.HashSetAsync(Key(credential, challenge.ChallengeId), "expires", later);
        await db.KeyPersistAsync(Key(credential, challenge.ChallengeId));
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, challenge, "", hashes)));
    }

    [Fact]
    public async Task A_one_factor_challenge_is_refused_after_the_consent_is_withdrawn()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        await op.Credentials.SetOneFactorConsentAsync(new SetOneFactorConsentRequest { CredentialId = credential.CredentialId, Consent = true });
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);

        // With consent a challenge needs the PIN only, and signs.
        var signs = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        Assert.DoesNotContain(Factor.Otp, signs.RequiredFactors);
        await partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, signs, "", hashes));

        var made = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        await op.Credentials.SetOneFactorConsentAsync(new SetOneFactorConsentRequest { CredentialId = credential.CredentialId, Consent = false });
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, made, "", hashes)));

        // A new challenge carries a code, and signs with it.
        var fresh = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        Assert.Contains(Factor.Otp, fresh.RequiredFactors);
        var otp = await SigningFlowTests.OtpAsync(fixture.Server, fresh.ChallengeId);
        await partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, fresh, otp, hashes));
    }
}

/// <summary>A Redis off this host is used only over TLS and with a password: otherwise the server refuses to start.</summary>
public sealed class RedisTransportTests
{
    [Fact]
    public async Task A_non_loopback_redis_without_tls_is_refused_at_start_up()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
        {
            // TEST-NET-1: never reached, the refusal comes before any connection.
            ["DTrust__Redis__Configuration"] = "192.0.2.1:6379",
        }));
        Assert.Contains("server exited during start-up", e.Message, StringComparison.Ordinal);
        Assert.Contains("refusing the non-loopback Redis 192.0.2.1:6379 without TLS (ssl=true)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_loopback_redis_with_tls_but_no_password_is_refused_at_start_up()
    {
        var empty = Path.GetTempFileName();
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
            {
                ["DTrust__Redis__Configuration"] = "redis.example.invalid:6380,ssl=true",
                ["DTrust__Redis__PasswordFile"] = empty,
            }));
            Assert.Contains("refusing the non-loopback Redis redis.example.invalid:6380 without a password", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("without TLS", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(empty);
        }
    }
}
