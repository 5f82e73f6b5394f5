using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// Faults under load, one after another, on two nodes sharing one PostgreSQL and one Redis: kill -9 of a node and
/// its restart, Redis restarted, Redis hung (SIGSTOP), PostgreSQL stopped. For each it counts what the partners got
/// and checks the claims: only UNAVAILABLE, DEADLINE_EXCEEDED or a refusal (never INTERNAL, never a call hanging
/// past its deadline), every signature received has its durable audit entry, no challenge signed twice, the chain
/// verifies, and the flow signs again by itself. The short version runs in make test; benchmarks/chaos.sh runs it
/// longer (DTRUST_CHAOS_SCALE) and writes the table to docs/performance/chaos.md (DTRUST_CHAOS_OUT).
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(8);

    private static readonly double Scale = double.TryParse(Environment.GetEnvironmentVariable("DTRUST_CHAOS_SCALE"), CultureInfo.InvariantCulture, out var s) ? s : 1;

    private static TimeSpan Seconds(double seconds) => TimeSpan.FromSeconds(seconds * Scale);

    [Fact]
    public async Task Two_nodes_under_load_survive_each_fault_and_lose_nothing_acknowledged()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = await postgres.CreateDatabaseAsync(),
            ["DTrust__HealthProbeSeconds"] = "1",
            ["DTrust__Signing__ChallengesPerMinute"] = "1000000",
            ["DTrust__Signing__OtpSendsPerPartnerPerHour"] = "100000000",
            ["DTrust__Signing__OtpSendsPerPhonePerHour"] = "100000000",
        }.With(FailClosed.ManyChallenges);
        var a = await ServerProcess.StartAsync(env);
        ServerProcess? b = await ServerProcess.StartAsync(env, a.StateDir, a.Redis);
        var redis = a.Redis;
        try
        {
            using var op = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("operator"));
            var credentials = new List<Credential>();
            for (var i = 0; i < 4; i++)
            {
                credentials.Add(await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced));
            }

            var partners = new[] { DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("partner")), DTrustClient.Connect(b.GrpcAddress, apiKey: a.ApiKey("partner")) };
            var retired = new List<DTrustClient>();
            var flows = new ConcurrentBag<Flow>();
            var phase = "baseline";
            using var stop = new CancellationTokenSource();
            var load = credentials.Select((credential, w) => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var node = (w + n) % 2;
                    flows.Add(await FlowAsync(a, Volatile.Read(ref partners[node]), credential, node, Volatile.Read(ref phase)));
                }
            })).ToList();

            var report = new List<string>();
            async Task FaultAsync(string name, Func<Task> inject, TimeSpan hold, Func<Task> recover)
            {
                Volatile.Write(ref phase, name);
                await Task.Delay(Seconds(1));
                var faulted = Stopwatch.GetTimestamp();
                await inject();
                await Task.Delay(hold);
                await recover();
                var recovered = Stopwatch.GetTimestamp();
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (!flows.Any(f => f.Phase == name && f.Ok && f.Start > recovered))
                {
                    Assert.True(DateTime.UtcNow < deadline, $"{name}: no flow signed within 60 s of the recovery: " +
                        string.Join("; ", flows.Where(f => f.Phase == name && f.Start > recovered).GroupBy(f => (f.Code, f.Detail)).Select(g => $"{g.Count()} x {g.Key.Code} {g.Key.Detail}").Take(6)));
                    await Task.Delay(100);
                }

                var back = flows.Where(f => f.Phase == name && f.Ok && f.Start > recovered).Min(f => f.End);
                await Task.Delay(Seconds(2));
                report.Add(Row(name, [.. flows.Where(f => f.Phase == name)], (back - recovered) / (double)Stopwatch.Frequency,
                    (recovered - faulted) / (double)Stopwatch.Frequency));
            }

            await Task.Delay(Seconds(2));
            report.Add(Row("baseline", [.. flows.Where(f => f.Phase == "baseline")], 0, 0));

            await FaultAsync("kill -9 one node, restart it", async () =>
            {
                Process.GetProcessById(b.ProcessId).Kill();
                await b.DisposeAsync();
                b = null;
            }, Seconds(2), async () =>
            {
                // The old client stays open (a call may still be on it) until the end; new calls take the new one.
                b = await ServerProcess.StartAsync(env, a.StateDir, redis);
                retired.Add(partners[1]);
                partners[1] = DTrustClient.Connect(b.GrpcAddress, apiKey: a.ApiKey("partner"));
            });
            await FaultAsync("restart Redis", () => redis.StopAsync(), Seconds(1), async () => redis = await RedisServer.StartAsync(redis));
            await FaultAsync("hang Redis (SIGSTOP)", () => SignalAsync(redis.ProcessId, "STOP"), Seconds(4), () => SignalAsync(redis.ProcessId, "CONT"));
            await FaultAsync("stop PostgreSQL", () => postgres.StopAsync(), Seconds(4), () => postgres.RestartAsync());

            await stop.CancelAsync();
            await Task.WhenAll(load);
            var all = flows.ToList();

            // Every signature a partner received has its entry in the store, and no challenge signed twice.
            var database = env["DTrust__Store__ConnectionString"];
            var audited = (await postgres.QueryAsync(database,
                "SELECT coalesce(string_agg(details::json->>'challenge', ','), '') FROM audit_log WHERE action_code = 'signature.created' AND outcome = 'ok'"))
                .Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();
            var missing = all.Where(f => f.Ok && !audited.Contains(f.Challenge!)).ToList();
            var twice = audited.GroupBy(c => c).Count(g => g.Count() > 1);
            var table = new StringBuilder()
                .AppendLine("| phase | flows | signed | errors by status | longest call s | fault held s | signing again after s |")
                .AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
            report.ForEach(r => table.AppendLine(r));
            table.AppendLine().AppendLine($"signatures received without a durable audit entry: {missing.Count}; challenges signed twice: {twice}; " +
                $"audit chain intact: {(await op.Credentials.VerifyAuditLogAsync(new VerifyAuditLogRequest())).Intact}");
            output.WriteLine(table.ToString());
            if (Environment.GetEnvironmentVariable("DTRUST_CHAOS_OUT") is { Length: > 0 } file)
            {
                await File.WriteAllTextAsync(file, $"# Chaos under load, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, scale {Scale}\n\n" +
                    "Two nodes (PostgreSQL store, one Redis, one token directory), four partners in a closed loop alternating " +
                    "between the nodes, 8 s deadline per call; `bash benchmarks/chaos.sh`.\n\n" + table);
            }

            Assert.All(all.Where(f => !f.Ok), f => Assert.True(
                f.Code is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.FailedPrecondition or StatusCode.PermissionDenied,
                $"{f.Phase}: {f.Code} {f.Detail}"));
            Assert.All(all, f => Assert.True(f.LongestCall < Deadline.TotalSeconds + 1, $"{f.Phase}: a call took {f.LongestCall:0.0} s, past its deadline"));

            // Spent is spent through every fault: a sample of what signed, presented again, is refused.
            var signedRequests = all.Where(f => f.Signed is not null).ToList();
            foreach (var f in signedRequests.Where((_, i) => i % Math.Max(1, signedRequests.Count / 200) == 0))
            {
                var replay = await Assert.ThrowsAsync<RpcException>(() => partners[f.Node].Signing.SignHashAsync(f.Signed!).ResponseAsync);
                Assert.Equal(StatusCode.FailedPrecondition, replay.StatusCode);
            }

            Assert.Empty(missing);
            Assert.Equal(0, twice);
            await FailClosed.AssertAuditIntactAsync(op);
            foreach (var p in partners.Concat(retired))
            {
                p.Dispose();
            }
        }
        finally
        {
            if (b is not null)
            {
                await b.DisposeAsync();
            }

            await a.DisposeAsync();
            if (!ReferenceEquals(redis, a.Redis))
            {
                await redis.DisposeAsync();
            }
        }
    }

    private sealed record Flow(
        string Phase, int Node, long Start, long End, bool Ok, StatusCode Code, string Detail, string? Challenge, double LongestCall, SignHashRequest? Signed);

    private static async Task<Flow> FlowAsync(ServerProcess server, DTrustClient partner, Credential credential, int node, string phase)
    {
        var start = Stopwatch.GetTimestamp();
        string? challengeId = null;
        var longest = 0.0;
        async Task<T> Timed<T>(Func<Task<T>> call)
        {
            var at = Stopwatch.GetTimestamp();
            try
            {
                return await call();
            }
            finally
            {
                longest = Math.Max(longest, Stopwatch.GetElapsedTime(at).TotalSeconds);
            }
        }

        try
        {
            var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
            var challenge = await Timed(() => partner.Signing.AuthorizeSignatureAsync(FailClosed.Authorize(credential, hashes), deadline: DateTime.UtcNow + Deadline).ResponseAsync);
            challengeId = challenge.ChallengeId;
            var otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId);
            var request = FailClosed.Sign(credential, challenge.ChallengeId, otp, hashes);
            FailClosed.AssertVerifies(await Timed(() => partner.Signing.SignHashAsync(request, deadline: DateTime.UtcNow + Deadline).ResponseAsync), hashes);
            return new Flow(phase, node, start, Stopwatch.GetTimestamp(), true, StatusCode.OK, "", challengeId, longest, request);
        }
        catch (RpcException e)
        {
            await Task.Delay(50);
            return new Flow(phase, node, start, Stopwatch.GetTimestamp(), false, e.StatusCode, e.Status.Detail, challengeId, longest, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Anything else (no code in the outbox, a signature that does not verify) is a failure of the claim.
            return new Flow(phase, node, start, Stopwatch.GetTimestamp(), false, StatusCode.Unknown, e.GetType().Name + ": " + e.Message, challengeId, longest, null);
        }
    }

    private static string Row(string name, List<Flow> flows, double back, double held)
    {
        var errors = flows.Where(f => !f.Ok).GroupBy(f => f.Code).Select(g => $"{g.Key} {g.Count()}").DefaultIfEmpty("none");
        var longest = flows.Count == 0 ? 0 : flows.Max(f => f.LongestCall);
        return string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {flows.Count} | {flows.Count(f => f.Ok)} | {string.Join(", ", errors)} | {longest:0.0} | {held:0.0} | {back:0.0} |");
    }

    private static async Task SignalAsync(int pid, string signal) =>
        (await ProcessRunner.RunAsync("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)])).EnsureSuccess("kill -" + signal);
}
