using System.CommandLine;
using System.Globalization;
using DTrust.KeyVault;
using DTrust.LoadGen;

var spawn = new Option<int>("--spawn") { Description = "start N nodes from the Release build (N > 1: one Redis, one PostgreSQL, one token directory); default when --server is not given", DefaultValueFactory = _ => 1 };
var servers = new Option<string[]>("--server") { Description = "a running node's gRPC address (repeatable); needs --state", AllowMultipleArgumentsPerToken = true };
var state = new Option<string?>("--state") { Description = "the running server's state directory (dev API keys, OTP outbox)" };
var pid = new Option<int?>("--server-pid") { Description = "the running server's process id, for its peak RSS (found by name when one node runs locally)" };
var scenarios = new Option<string>("--scenarios") { Description = "comma-separated: 1 sign RAW P-256, 2 CAdES-B-T, 3 batch of 100, 4 RSA-3072, 5 TSA only, 6 holder approval (page, PIN + code), 7 seal batch of 100, 8 seal single hash", DefaultValueFactory = _ => "1,2,3,4,5" };
var partners = new Option<int>("--partners") { Description = "closed loop: concurrent partners", DefaultValueFactory = _ => 16 };
var duration = new Option<double>("--duration") { Description = "seconds measured per phase", DefaultValueFactory = _ => 10 };
var warmup = new Option<double>("--warmup") { Description = "seconds of load before each phase is measured", DefaultValueFactory = _ => 3 };
var runs = new Option<int>("--runs") { Description = "repetitions; the table shows medians and min–max", DefaultValueFactory = _ => 3 };
var sweep = new Option<string>("--sweep") { Description = "open loop for scenario 1 at these fractions of its closed-loop maximum (empty: none)", DefaultValueFactory = _ => "0.1,0.25,0.5,0.75,0.9" };
var rate = new Option<double?>("--rate") { Description = "open loop only: operations per second offered for every scenario, instead of the closed loop" };
var sessions = new Option<int>("--sessions") { Description = "HSM sessions per domain (spawned nodes get it; raw baselines use as many threads)", DefaultValueFactory = _ => 4 };
var rawSeconds = new Option<double>("--raw-seconds") { Description = "seconds per raw PKCS#11 measurement", DefaultValueFactory = _ => 3 };
var settle = new Option<double>("--settle") { Description = "seconds of unmeasured load per scenario before the first run (the JIT's tiers settle)", DefaultValueFactory = _ => 10 };
var nodeEnv = new Option<string[]>("--node-env") { Description = "NAME=VALUE in every spawned node's environment only, not the generator's (repeatable; e.g. DOTNET_gcServer=0 to measure a runtime setting)", AllowMultipleArgumentsPerToken = true };
var output = new Option<string>("--out") { Description = "directory for the markdown table and the chart", DefaultValueFactory = _ => "docs/performance" };

var root = new RootCommand("DTrust load generator: the whole partner flow against running or spawned nodes, read against raw PKCS#11 rates")
{
    spawn, servers, state, pid, scenarios, partners, duration, warmup, runs, sweep, rate, sessions, rawSeconds, settle, nodeEnv, output,
};
root.SetAction(async (parse, ct) =>
{
    var addresses = parse.GetValue(servers) ?? [];
    var sessionCount = parse.GetValue(sessions);
    await using var target = addresses.Length > 0
        ? Target.Attach([.. addresses.Select(a => new Uri(a))], parse.GetValue(state) ?? throw new ArgumentException("--server needs --state"), sessionCount, parse.GetValue(pid))
        : await Target.SpawnAsync(parse.GetValue(spawn), sessionCount, parse.GetValue(nodeEnv) ?? []);
    var plan = new LoadPlan(
        [.. parse.GetValue(scenarios)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => Scenario.Create(int.Parse(n, CultureInfo.InvariantCulture)))],
        parse.GetValue(partners),
        TimeSpan.FromSeconds(parse.GetValue(warmup)),
        TimeSpan.FromSeconds(parse.GetValue(duration)),
        parse.GetValue(runs),
        [.. parse.GetValue(sweep)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(f => double.Parse(f, CultureInfo.InvariantCulture))],
        parse.GetValue(rate),
        TimeSpan.FromSeconds(parse.GetValue(rawSeconds)),
        TimeSpan.FromSeconds(parse.GetValue(settle)));
    await plan.RunAsync(target, parse.GetValue(output)!, ct);
    return 0;
});
return await root.Parse(args).InvokeAsync();

namespace DTrust.LoadGen
{
    /// <summary>What one invocation runs: per run the raw rates, then every scenario; then the sweep.</summary>
    internal sealed record LoadPlan(
        Scenario[] Scenarios, int Partners, TimeSpan Warmup, TimeSpan Duration, int Runs, double[] Sweep, double? Rate, TimeSpan RawDuration, TimeSpan Settle)
    {
        public async Task RunAsync(Target target, string outDir, CancellationToken ct)
        {
            Directory.CreateDirectory(outDir);
            Console.WriteLine($"nodes: {string.Join(", ", target.Nodes.Select(n => $"{n.Address} (pid {n.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "?"})"))}; store {target.Store}; {target.Sessions} HSM sessions per domain");
            var runner = new Runner(target);
            foreach (var s in Scenarios)
            {
                await s.SetupAsync(target, Math.Max(Partners, 64), ct);
            }

            // A server fresh from start-up still compiles its hot paths to their final tier for a minute or more.
            if (Settle > TimeSpan.Zero)
            {
                foreach (var s in Scenarios)
                {
                    await runner.ClosedLoopAsync(s, Partners, TimeSpan.Zero, Settle);
                }
            }

            using var raw = new RawRates(target.Sessions);
            var results = Scenarios.Select(s => new ScenarioRuns(s, Rate is { } r ? $"open {r:0}/s" : $"closed {Partners}", [])).ToList();
            for (var run = 1; run <= Runs; run++)
            {
                // The raw limits are measured in the same run as the load they are compared with, once the
                // server has finished what the last load left it (answers in flight, collections).
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
                var rates = new Dictionary<(RawOperation, KeyAlgorithm), double>();
                foreach (var key in Scenarios.Select(s => (s.Raw, s.RawAlgorithm)).Distinct())
                {
                    rates[key] = raw.Measure(key.Raw, key.RawAlgorithm, RawDuration);
                    Console.WriteLine($"run {run}: raw {key.Raw} {key.RawAlgorithm}: {rates[key]:0}/s with {target.Sessions} threads");
                }

                foreach (var result in results)
                {
                    var s = result.Scenario;
                    var m = Rate is { } r
                        ? await runner.OpenLoopAsync(s, r, Warmup, Duration)
                        : await runner.ClosedLoopAsync(s, Partners, Warmup, Duration);
                    var limit = rates[(s.Raw, s.RawAlgorithm)];
                    result.Runs.Add((m, limit));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"run {run}: scenario {s.Number}: {m.SignaturesPerSecond:0} signatures/s = {m.SignaturesPerSecond / limit:0.00} x raw; p50 {m.Percentile(50):0.0} p99 {m.Percentile(99):0.0} max {m.MaxMs:0.0} ms; errors {m.ErrorCount}; peak RSS {m.PeakRssBytes / 1048576} MB; CPU ms/signature server {m.CpuPerSignatureMs.Server:0.00} generator {m.CpuPerSignatureMs.Generator:0.00} rest {m.CpuPerSignatureMs.Other:0.00}"));
                }
            }

            var table = Report.Table(results, target, Runs);
            var name = $"load-{target.Nodes.Count}node";
            var text = $"# DTrust load, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores\n\n{table}";
            var first = results.FirstOrDefault(r => r.Scenario.Number == 1);
            if (first is not null && Rate is null && Sweep.Length > 0)
            {
                var max = Report.Median([.. first.Runs.Select(r => r.Load.SignaturesPerSecond)]);
                var points = new List<SweepPoint>();
                foreach (var fraction in Sweep)
                {
                    var point = new SweepPoint(fraction, fraction * max, []);
                    for (var run = 1; run <= Runs; run++)
                    {
                        var m = await runner.OpenLoopAsync(first.Scenario, point.OfferedPerSecond, Warmup, Duration);
                        point.Runs.Add(m);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"sweep {fraction:P0} run {run}: offered {point.OfferedPerSecond:0}/s, achieved {m.SignaturesPerSecond:0}/s; p50 {m.Percentile(50):0.0} p99 {m.Percentile(99):0.0} p99.9 {m.Percentile(99.9):0.0} ms; errors {m.ErrorCount}"));
                    }

                    points.Add(point);
                }

                text += "\n" + Report.SweepTable(points, max);
                Report.Chart(points, Path.Combine(outDir, name + "-latency"), $"{target.Nodes.Count} node(s), {Environment.ProcessorCount} cores shared with the load generator");
            }

            var path = Path.Combine(outDir, name + ".md");
            await File.WriteAllTextAsync(path, text, ct);
            Console.WriteLine();
            Console.WriteLine(text);
            Console.WriteLine($"written: {path}");
        }
    }
}
