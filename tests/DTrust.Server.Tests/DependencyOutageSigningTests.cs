using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// Fail closed, recover by itself: with Redis (the challenge store) or PostgreSQL (the credential store and audit
/// log) stopped under a running server, AuthorizeSignature and SignHash answer UNAVAILABLE and no signature leaves;
/// with the dependency back on the same port the next full flow signs, without restarting the server.
/// </summary>
public sealed class DependencyOutageSigningTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Redis_stopped_refuses_unavailable_and_redis_back_signs_again()
    {
        var clock = Stopwatch.StartNew();
        var redis = await RedisServer.StartAsync();
        RedisServer? restarted = null;
        try
        {
            await using var server = await ServerProcess.StartAsync(FailClosed.ManyChallenges, stateDir: null, redis);
            using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
            using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
            var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
            await FailClosed.FullFlowAsync(server, partner, credential);

            // A challenge authorized before the outage, presented during it.
            var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
            var challenge = await partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
            var otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId);

            await redis.StopAsync();
            var down = Stopwatch.StartNew();
            await FailClosed.AssertUnavailable(partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes)), "AuthorizeSignature");
            await FailClosed.AssertUnavailable(partner.Signing.SignHashAsync(FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes)), "SignHash");
            output.WriteLine($"two refusals with Redis down in {down.Elapsed.TotalSeconds:0.0}s");

            restarted = await RedisServer.StartAsync(redis);
            var recovered = await FailClosed.RecoversAsync(server, partner, credential, Reconnect);
            output.WriteLine($"signing again {recovered.TotalSeconds:0.0}s after Redis came back");
            Assert.False(server.HasExited);
            await FailClosed.AssertAuditIntactAsync(op);
        }
        finally
        {
            if (restarted is not null)
            {
                await restarted.DisposeAsync();
            }

            await redis.DisposeAsync();
        }

        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }

    [Fact]
    public async Task Postgres_stopped_refuses_unavailable_and_postgres_back_signs_again()
    {
        var clock = Stopwatch.StartNew();
        await using var postgres = await PostgresServer.StartAsync();
        var connection = await postgres.CreateDatabaseAsync();
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = connection,
        }.With(FailClosed.ManyChallenges));
        using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        await FailClosed.FullFlowAsync(server, partner, credential);

        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
        var otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId);

        await postgres.StopAsync();
        var down = Stopwatch.StartNew();
        await FailClosed.AssertUnavailable(partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes)), "AuthorizeSignature");
        await FailClosed.AssertUnavailable(partner.Signing.SignHashAsync(FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes)), "SignHash");
        output.WriteLine($"two refusals with PostgreSQL down in {down.Elapsed.TotalSeconds:0.0}s");

        await postgres.RestartAsync();
        var recovered = await FailClosed.RecoversAsync(server, partner, credential, Reconnect);
        output.WriteLine($"signing again {recovered.TotalSeconds:0.0}s after PostgreSQL came back");

        // The refused SignHash failed before the challenge was consumed: it still signs, once.
        var signed = await partner.Signing.SignHashAsync(FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes));
        FailClosed.AssertVerifies(signed, hashes);
        Assert.False(server.HasExited);
        await FailClosed.AssertAuditIntactAsync(op);
        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }
}
