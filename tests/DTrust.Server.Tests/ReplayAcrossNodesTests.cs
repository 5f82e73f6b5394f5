using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// The documented multi-node set-up: two server processes on one Redis, one PostgreSQL database and one state
/// directory (same SoftHSM tokens, OTP HMAC secret and dev callers), different ports. A challenge authorized on one
/// node and presented 64 times at once, half to each node, signs exactly once; every other attempt is refused
/// (FAILED_PRECONDITION) and audited as a refusal, and the audit chain both nodes appended to stays intact.
/// </summary>
public sealed class ReplayAcrossNodesTests(ITestOutputHelper output)
{
    private const int Rounds = 20;
    private const int Attempts = 64;

    [Fact]
    public async Task One_challenge_presented_64_times_on_two_nodes_signs_exactly_once()
    {
        var clock = Stopwatch.StartNew();
        await using var postgres = await PostgresServer.StartAsync();
        var connection = await postgres.CreateDatabaseAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = connection,
        }.With(FailClosed.ManyChallenges);
        await using var a = await ServerProcess.StartAsync(env);
        await using var b = await ServerProcess.StartAsync(env, a.StateDir, a.Redis);
        output.WriteLine($"two nodes up after {clock.Elapsed.TotalSeconds:0.0}s");

        using var opA = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("operator"));
        using var partnerA = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("partner"));
        using var partnerB = DTrustClient.Connect(b.GrpcAddress, apiKey: b.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(opA, Level.Qualified);

        var signing = Stopwatch.StartNew();
        for (var round = 0; round < Rounds; round++)
        {
            var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
            var challenge = await partnerA.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes));
            var otp = await SigningFlowTests.OtpAsync(a, challenge.ChallengeId);
            var request = FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes);

            // All 64 calls are in flight before any answer is looked at.
            var calls = Enumerable.Range(0, Attempts)
                .Select(i => (i % 2 == 0 ? partnerA : partnerB).Signing.SignHashAsync(request).ResponseAsync)
                .ToArray();
            var signed = new List<SignHashResponse>();
            var refused = new List<RpcException>();
            foreach (var call in calls)
            {
                try
                {
                    signed.Add(await call);
                }
                catch (RpcException e)
                {
                    refused.Add(e);
                }
            }

            Assert.True(signed.Count == 1, $"round {round}: {signed.Count} of {Attempts} calls signed one challenge");
            FailClosed.AssertVerifies(signed[0], hashes);
            Assert.All(refused, e =>
            {
                Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
                Assert.StartsWith("challenge not found", e.Status.Detail, StringComparison.Ordinal);
            });
        }

        output.WriteLine($"{Rounds} rounds of {Attempts} in {signing.Elapsed.TotalSeconds:0.0}s");

        // Both nodes appended to one chain: intact seen from either, one signature and 63 refusals a round.
        await FailClosed.AssertAuditIntactAsync(opA);
        using var opB = DTrustClient.Connect(b.GrpcAddress, apiKey: b.ApiKey("operator"));
        await FailClosed.AssertAuditIntactAsync(opB);
        var counts = await postgres.QueryAsync(connection,
            "SELECT action_code || '|' || outcome || '|' || count(*) FROM audit_log " +
            $"WHERE credential_id = '{credential.CredentialId}' AND action_code IN ('signature.sign', 'signature.created') " +
            "GROUP BY action_code, outcome ORDER BY action_code");
        output.WriteLine(counts);
        var rows = counts.Split('\n').Select(l => l.Split('|')).ToDictionary(r => r[0] + "|" + r[1], r => int.Parse(r[2], CultureInfo.InvariantCulture));
        Assert.Equal(Rounds, rows.Where(r => r.Key.StartsWith("signature.created|", StringComparison.Ordinal)).Sum(r => r.Value));
        Assert.Equal(Rounds * (Attempts - 1), rows.GetValueOrDefault("signature.sign|refused: no such challenge"));
        Assert.Equal(2, rows.Count);
        output.WriteLine($"total {clock.Elapsed.TotalSeconds:0.0}s");
    }
}
