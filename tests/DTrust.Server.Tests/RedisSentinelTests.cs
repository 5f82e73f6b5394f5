using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// A Sentinel fail-over under load (one master, one replica, three sentinels on loopback): the server follows the new
/// master by itself, what fails meanwhile fails as UNAVAILABLE, DEADLINE_EXCEEDED or a refusal (never INTERNAL, never
/// a hang), and with Redis:ReplicasToAcknowledge=1 no challenge spent before the master died signs again on the
/// promoted replica, and none signs twice. While the promoted master has no replica it refuses every write that
/// decides who may sign (fail closed); the old master coming back as its replica ends that by itself.
/// </summary>
public sealed class RedisSentinelTests(ITestOutputHelper output)
{
    private static readonly StatusCode[] Acceptable = [StatusCode.Unavailable, StatusCode.DeadlineExceeded, StatusCode.FailedPrecondition];

    [Fact]
    public async Task The_server_follows_a_fail_over_under_load_and_no_spent_challenge_signs_again()
    {
        var clock = Stopwatch.StartNew();
        await using var sentinel = await RedisSentinel.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Redis__Configuration"] = sentinel.Configuration,
            ["DTrust__Redis__PasswordFile"] = sentinel.PasswordFile,
            ["DTrust__Redis__ReplicasToAcknowledge"] = "1",
        }.With(FailClosed.ManyChallenges);
        await using var server = await ServerProcess.StartAsync(env);
        output.WriteLine($"sentinel set and server up after {clock.Elapsed.TotalSeconds:0.0}s");
        using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
        var credentials = new List<Credential>();
        for (var i = 0; i < 4; i++)
        {
            credentials.Add(await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced));
        }

        var signed = new ConcurrentBag<(SignHashRequest Request, long At)>();
        var failures = new ConcurrentBag<(StatusCode Code, string Detail, long At)>();
        var killedAt = long.MaxValue;
        using var stop = new CancellationTokenSource();
        var workers = credentials.Select(credential => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
                    var challenge = await partner.Signing.AuthorizeSignatureAsync(
                        FailClosed.Authorize(credential, hashes), deadline: DateTime.UtcNow.AddSeconds(10));
                    var request = FailClosed.Sign(credential, challenge.ChallengeId, await SigningFlowTests.OtpAsync(server, challenge.ChallengeId), hashes);
                    FailClosed.AssertVerifies(await partner.Signing.SignHashAsync(request, deadline: DateTime.UtcNow.AddSeconds(10)), hashes);
                    signed.Add((request, started));
                }
                catch (RpcException e)
                {
                    failures.Add((e.StatusCode, e.Status.Detail, started));
                    await Task.Delay(50);
                }
            }
        })).ToList();

        // Load for two seconds, then the master dies (kill -9) and the sentinels promote the replica.
        await Task.Delay(2000);
        Assert.NotEmpty(signed);
        var before = signed.ToList();
        killedAt = Stopwatch.GetTimestamp();
        await sentinel.Master.StopAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await sentinel.CurrentMasterPortAsync() != sentinel.Replica.Port)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sentinels did not promote the replica within 30 s");
            await Task.Delay(100);
        }

        var promoted = Stopwatch.GetElapsedTime(killedAt);

        // Alone, the new master cannot have a spent challenge replicated: nothing started now signs (UNAVAILABLE).
        var alone = Stopwatch.GetTimestamp();
        while (!failures.Any(f => f.At > alone && f.Code == StatusCode.Unavailable && f.Detail.Contains("replica", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the promoted master without a replica did not refuse: " +
                string.Join("; ", failures.Where(f => f.At > alone).Select(f => $"{f.Code} {f.Detail}").Distinct().Take(5)));
            await Task.Delay(100);
        }

        Assert.DoesNotContain(signed, s => s.At > alone);

        // The old master comes back and becomes the replica: signing resumes without touching the server.
        var rejoin = Stopwatch.GetTimestamp();
        await sentinel.RestartOldMasterAsync();
        while (!signed.Any(s => s.At > rejoin))
        {
            Assert.True(DateTime.UtcNow < deadline, "no flow signed within 30 s of the fail-over, without a restart: " +
                string.Join("; ", failures.Where(f => f.At > rejoin).Select(f => $"{f.Code} {f.Detail}").Distinct().Take(5)));
            await Task.Delay(100);
        }

        var recovered = Stopwatch.GetElapsedTime(killedAt);
        await Task.Delay(2000);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        output.WriteLine($"promoted after {promoted.TotalSeconds:0.0}s, signing again {recovered.TotalSeconds:0.0}s after the kill " +
            $"({Stopwatch.GetElapsedTime(rejoin).TotalSeconds:0.0}s after the old master was restarted); " +
            $"{signed.Count} flows signed, {failures.Count} failed: " +
            string.Join(", ", failures.GroupBy(f => f.Code).Select(g => $"{g.Key} {g.Count()}")));
        foreach (var g in failures.GroupBy(f => (f.Code, f.Detail)))
        {
            output.WriteLine($"  {g.Count()} x {g.Key.Code}: {g.Key.Detail} (first {Seconds(g.Min(f => f.At)):0.0}s, last {Seconds(g.Max(f => f.At)):0.0}s after the kill)");
        }

        double Seconds(long at) => (at - killedAt) / (double)Stopwatch.Frequency;

        // Meanwhile only the fail-over's own answers, each of them a refusal or an outage, never INTERNAL.
        Assert.All(failures, f => Assert.True(Acceptable.Contains(f.Code), $"{f.Code}: {f.Detail}"));
        Assert.Contains(signed, s => s.At > killedAt);

        // Every challenge spent before the master died is spent on the new master too: presented again, refused.
        foreach (var (request, _) in before)
        {
            var replay = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(request).ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, replay.StatusCode);
        }

        // And the durable audit shows no challenge that signed twice.
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = server.SqlitePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        using var twice = db.CreateCommand();
        twice.CommandText = "SELECT count(*) FROM (SELECT json_extract(details, '$.challenge') c FROM audit_log " +
            "WHERE action_code = 'signature.created' AND outcome = 'ok' GROUP BY c HAVING count(*) > 1)";
        Assert.Equal(0L, (long)twice.ExecuteScalar()!);
        Assert.Equal((long)signed.Count, Count(db, "SELECT count(*) FROM audit_log WHERE action_code = 'signature.created' AND outcome = 'ok' " +
            "AND credential_id IN (" + string.Join(',', credentials.Select(c => $"'{c.CredentialId}'")) + ")"));
    }

    private static long Count(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return (long)cmd.ExecuteScalar()!;
    }
}
