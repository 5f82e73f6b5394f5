using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
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

    [Fact]
    public async Task A_slot_moved_to_another_master_under_load_keeps_every_acknowledged_challenge()
    {
        await using var cluster = await RedisCluster.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Redis__Configuration"] = cluster.Configuration,
            ["DTrust__Redis__PasswordFile"] = cluster.PasswordFile,
        }.With(FailClosed.ManyChallenges);
        await using var server = await ServerProcess.StartAsync(env);
        using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
        var moving = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        var others = new[] { await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced), await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced) };

        // The slot of the moving credential's hash tag, its master now, and another master to move it to.
        var slot = (await RedisCluster.CliAsync(cluster.Nodes[0], ["cluster", "keyslot", "{" + moving.CredentialId + "}"])).EnsureSuccess("cluster keyslot").StdOut.Trim();
        var source = await OwnerAsync(cluster, slot);
        var target = cluster.Nodes.First(n => n != source);
        async Task<string> IdAsync(RedisServer n) => (await RedisCluster.CliAsync(n, ["cluster", "myid"])).EnsureSuccess("cluster myid").StdOut.Trim();
        var (sourceId, targetId) = (await IdAsync(source), await IdAsync(target));

        // Challenges acknowledged before the move, left open across it.
        var open = new List<(SignHashRequest Request, ByteString[] Hashes)>();
        for (var i = 0; i < 5; i++)
        {
            var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
            var challenge = await partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(moving, hashes));
            open.Add((FailClosed.Sign(moving, challenge.ChallengeId, await SigningFlowTests.OtpAsync(server, challenge.ChallengeId), hashes), hashes));
        }

        // Load on the moving credential and on others while the slot moves key by key (MIGRATING/IMPORTING, MIGRATE).
        var outcomes = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var load = new[] { moving, moving, others[0], others[1] }.Select(credential => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await FailClosed.FullFlowAsync(server, partner, credential);
                    outcomes.Add("ok");
                }
                catch (RpcException e)
                {
                    outcomes.Add(e.StatusCode.ToString());
                }
            }
        })).ToList();
        await Task.Delay(500);
        (await RedisCluster.CliAsync(target, ["cluster", "setslot", slot, "importing", sourceId])).EnsureSuccess("setslot importing");
        (await RedisCluster.CliAsync(source, ["cluster", "setslot", slot, "migrating", targetId])).EnsureSuccess("setslot migrating");
        while (true)
        {
            var keys = (await RedisCluster.CliAsync(source, ["cluster", "getkeysinslot", slot, "10"])).EnsureSuccess("getkeysinslot").StdOut
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (keys.Length == 0)
            {
                break;
            }

            (await RedisCluster.CliAsync(source, ["migrate", "127.0.0.1", target.Port.ToString(CultureInfo.InvariantCulture), "", "0", "5000", "AUTH", target.Password, "KEYS", .. keys]))
                .EnsureSuccess("migrate");
            await Task.Delay(50);
        }

        foreach (var node in cluster.Nodes)
        {
            (await RedisCluster.CliAsync(node, ["cluster", "setslot", slot, "node", targetId])).EnsureSuccess("setslot node");
        }

        Assert.Equal(target.Port, (await OwnerAsync(cluster, slot)).Port);
        var movedAt = outcomes.Count;
        await Task.Delay(1500);
        await stop.CancelAsync();
        await Task.WhenAll(load);
        var all = outcomes.ToList();
        output.WriteLine($"slot {slot} moved; {all.Count} flows: " + string.Join(", ", all.GroupBy(o => o).Select(g => $"{g.Key} {g.Count()}")));

        // While it moved: a retryable refusal at worst (TRYAGAIN/ASK become UNAVAILABLE), never INTERNAL; afterwards it signs.
        Assert.All(all, o => Assert.Contains(o, new[] { "ok", nameof(StatusCode.Unavailable), nameof(StatusCode.FailedPrecondition) }));
        Assert.Contains("ok", all.Skip(movedAt));

        // Every challenge acknowledged before the move is on the new master: each signs once, and only once.
        foreach (var (request, hashes) in open)
        {
            FailClosed.AssertVerifies(await partner.Signing.SignHashAsync(request), hashes);
            Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(request).ResponseAsync)).StatusCode);
        }

        await FailClosed.AssertAuditIntactAsync(op);
    }

    private static async Task<RedisServer> OwnerAsync(RedisCluster cluster, string slot)
    {
        var number = int.Parse(slot, CultureInfo.InvariantCulture);
        var slots = (await RedisCluster.CliAsync(cluster.Nodes[0], ["cluster", "shards"])).EnsureSuccess("cluster shards").StdOut;
        foreach (var node in cluster.Nodes)
        {
            var mine = (await RedisCluster.CliAsync(node, ["cluster", "nodes"])).EnsureSuccess("cluster nodes").StdOut
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Single(l => l.Contains("myself", StringComparison.Ordinal));
            foreach (var range in mine.Split(' ').Skip(8).Where(r => !r.StartsWith('[')))
            {
                var bounds = range.Split('-');
                var (from, to) = (int.Parse(bounds[0], CultureInfo.InvariantCulture), int.Parse(bounds[^1], CultureInfo.InvariantCulture));
                if (number >= from && number <= to)
                {
                    return node;
                }
            }
        }

        throw new InvalidOperationException($"no master owns slot {slot}: {slots}");
    }
}
