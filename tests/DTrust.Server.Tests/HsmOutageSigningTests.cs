using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// The HSM failing under a running server, from outside the process: the SoftHSM token directory is moved away
/// (as a storage outage would take it). SignHash must not return a signature, neither while the tokens are gone
/// nor after they are back. SoftHSM's file store marks a token whose directory vanished invalid for the life of
/// the process (it re-indexes only valid tokens), so this server does not recover by itself: a PKCS#11 module
/// re-initialisation, i.e. a restart, is needed. That restart on the same state then signs: nothing on disk was
/// harmed. (Transient device faults that do recover in-process are injected through the vault's seam in the
/// KeyVault tests.)
/// </summary>
public sealed class HsmOutageSigningTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Token_directory_gone_signs_nothing_and_a_restart_on_the_same_state_signs_again()
    {
        var clock = Stopwatch.StartNew();
        var state = Directory.CreateTempSubdirectory("dtrust-hsm-outage-").FullName;
        await using var redis = await RedisServer.StartAsync();
        try
        {
            Credential credential;
            await using (var server = await ServerProcess.StartAsync(FailClosed.ManyChallenges, state, redis))
            {
                using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
                using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
                credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
                await FailClosed.FullFlowAsync(server, partner, credential);

                var tokens = Path.Combine(server.StateDir, "hsm", "tokens");
                var away = tokens + ".away";
                var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
                var challenge = await partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
                var otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId);
                Directory.Move(tokens, away);
                try
                {
                    // The cached key handles turn invalid (CKR_OBJECT_HANDLE_INVALID), the vault looks the master key
                    // up again and does not find it (KeyNotFound): INTERNAL with the generic message, the cause in
                    // the log. UNAVAILABLE would do too; a signature or an answer that blames the caller would not.
                    await AssertNoSignature(partner.Signing.SignHashAsync(FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes)), server);
                }
                finally
                {
                    Directory.Move(away, tokens);
                }

                // The challenge was consumed before the HSM failed: spent, the caller authorizes again.
                await CredentialLifecycleTests.AssertRefused(
                    StatusCode.FailedPrecondition, partner.Signing.SignHashAsync(FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes)));

                // Tokens back, same process: SoftHSM still holds the token invalid; still no signature.
                var again = await partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
                await AssertNoSignature(
                    partner.Signing.SignHashAsync(FailClosed.Sign(credential, again.ChallengeId, await SigningFlowTests.OtpAsync(server, again.ChallengeId), hashes)),
                    server);
                await FailClosed.AssertAuditIntactAsync(op);
            }

            await using (var restarted = await ServerProcess.StartAsync(FailClosed.ManyChallenges, state, redis))
            {
                using var op = DTrustClient.Connect(restarted.GrpcAddress, apiKey: restarted.ApiKey("operator"));
                using var partner = DTrustClient.Connect(restarted.GrpcAddress, apiKey: restarted.ApiKey("partner"));
                await FailClosed.FullFlowAsync(restarted, partner, credential);
                await FailClosed.AssertAuditIntactAsync(op);
            }
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }

        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }

    private async Task AssertNoSignature(AsyncUnaryCall<SignHashResponse> call, ServerProcess server)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        output.WriteLine($"SignHash: {e.StatusCode} {e.Status.Detail}");
        Assert.True(
            e.StatusCode is StatusCode.Unavailable or StatusCode.Internal,
            $"expected UNAVAILABLE or INTERNAL, got {e.StatusCode}: {e.Status.Detail}\n{server.Log}");
        Assert.DoesNotContain("master key", e.Status.Detail, StringComparison.Ordinal);
    }
}
