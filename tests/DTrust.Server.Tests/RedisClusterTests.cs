using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// The challenge scripts on a real three-master Redis Cluster (started here on loopback), behind two server nodes on
/// one PostgreSQL store: challenges of different credentials land on different masters (a hash tag per credential
/// keeps each script's keys in one slot), a challenge authorized on one node signs on the other, and presented many
/// times at once on both it signs exactly once.
/// </summary>
public sealed class RedisClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Challenges_spread_over_three_masters_sign_on_the_other_node_and_only_once()
    {
        var clock = Stopwatch.StartNew();
        await using var cluster = await RedisCluster.StartAsync();
        await using var postgres = await PostgresServer.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = await postgres.CreateDatabaseAsync(),
            ["DTrust__Redis__Configuration"] = cluster.Configuration,
            ["DTrust__Redis__PasswordFile"] = cluster.PasswordFile,
        }.With(FailClosed.ManyChallenges);
        await using var a = await ServerProcess.StartAsync(env);
        await using var b = await ServerProcess.StartAsync(env, a.StateDir, a.Redis);
        output.WriteLine($"cluster and two nodes up after {clock.Elapsed.TotalSeconds:0.0}s");

        using var op = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("operator"));
        using var partnerA = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("partner"));
        using var partnerB = DTrustClient.Connect(b.GrpcAddress, apiKey: b.ApiKey("partner"));
        var credentials = new List<Credential>();
        for (var i = 0; i < 6; i++)
        {
            credentials.Add(await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced));
        }

        // One open challenge per credential, authorized on node A.
        var open = new List<(Credential Credential, ByteString[] Hashes, string Challenge, string Otp)>();
        foreach (var credential in credentials)
        {
            var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
            var challenge = await partnerA.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
            open.Add((credential, hashes, challenge.ChallengeId, await SigningFlowTests.OtpAsync(a, challenge.ChallengeId)));
        }

        var keys = await cluster.KeyCountsAsync();
        output.WriteLine("keys per master: " + string.Join(", ", keys));
        Assert.True(keys.Count(k => k > 0) >= 2, "the challenges of six credentials all sit on one master: " + string.Join(", ", keys));

        // Each signs on node B, once; the same request again (on A) finds no challenge.
        foreach (var (credential, hashes, challenge, otp) in open)
        {
            var request = FailClosed.Sign(credential, challenge, otp, hashes);
            FailClosed.AssertVerifies(await partnerB.Signing.SignHashAsync(request), hashes);
            var replay = await Assert.ThrowsAsync<RpcException>(() => partnerA.Signing.SignHashAsync(request).ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, replay.StatusCode);
        }

        // One challenge presented 32 times at once, half to each node: one signature.
        var last = credentials[0];
        var burstHashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var burst = await partnerA.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(last, burstHashes));
        var burstRequest = FailClosed.Sign(last, burst.ChallengeId, await SigningFlowTests.OtpAsync(a, burst.ChallengeId), burstHashes);
        var calls = Enumerable.Range(0, 32).Select(i => (i % 2 == 0 ? partnerA : partnerB).Signing.SignHashAsync(burstRequest).ResponseAsync).ToArray();
        var signed = 0;
        foreach (var call in calls)
        {
            try
            {
                await call;
                signed++;
            }
            catch (RpcException e)
            {
                Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
            }
        }

        Assert.Equal(1, signed);
        await FailClosed.AssertAuditIntactAsync(op);
        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }
}
