using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>Challenges end: after their lifetime nothing signs with them; and the dev outbox never runs in production.</summary>
public sealed class ChallengeExpiryTests
{
    [Fact]
    public async Task An_expired_challenge_does_not_sign_even_with_the_right_code()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["DTrust__Signing__ChallengeSeconds"] = "1" });
        using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var authorize = new AuthorizeSignatureRequest { CredentialId = credential.CredentialId, HashAlgorithm = HashAlgorithm.Sha256 };
        authorize.Hashes.AddRange(hashes);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(authorize);
        var otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId);
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        var sign = new SignHashRequest
        {
            CredentialId = credential.CredentialId,
            ChallengeId = challenge.ChallengeId,
            Otp = otp,
            ActivationPin = "24681357",
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = SignatureFormat.Raw,
        };
        sign.Hashes.AddRange(hashes);
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.SignHashAsync(sign));
    }

    [Fact]
    public async Task The_outbox_sender_is_refused_outside_development()
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Development"] = "false",
            ["DTrust__Signing__OtpSender"] = "outbox",
        }));
        Assert.Contains("outbox one-time code sender is for development only", refused.Message, StringComparison.Ordinal);
    }
}
