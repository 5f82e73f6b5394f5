using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using HdrHistogram;

namespace DTrust.LoadGen;

/// <summary>What one load phase measured. Latencies are in microseconds, the server's part of each operation.</summary>
public sealed record Measurement(
    double SignaturesPerSecond,
    double OperationsPerSecond,
    LongHistogram Latency,
    IReadOnlyDictionary<string, long> Errors,
    IReadOnlyList<double> SignaturesPerSecondByNode,
    long PeakRssBytes,
    CpuUse Cpu)
{
    /// <summary>Milliseconds of CPU per signature: server, generator, rest of the machine.</summary>
    public (double Server, double Generator, double Other) CpuPerSignatureMs
    {
        get
        {
            var signatures = SignaturesPerSecond * Seconds;
            return signatures == 0 ? (double.NaN, double.NaN, double.NaN)
                : (1000 * Cpu.ServerSeconds / signatures, 1000 * Cpu.GeneratorSeconds / signatures, 1000 * Cpu.OtherSeconds / signatures);
        }
    }

    public double Seconds { get; init; }

    public double Percentile(double p) => Latency.TotalCount == 0 ? double.NaN : Latency.GetValueAtPercentile(p) / 1000.0;

    public double MaxMs => Latency.TotalCount == 0 ? double.NaN : Latency.GetMaxValue() / 1000.0;

    public long ErrorCount => Errors.Values.Sum();
}

/// <summary>
/// Drives a scenario: closed loop (C partners, each sending its next operation when the last one answered) or
/// open loop (operations started on a fixed schedule whatever the answers do, latency counted from the scheduled
/// start, so a stalled server cannot hide its queue: no coordinated omission). Warm-up operations are not counted.
/// </summary>
public sealed class Runner(Target target)
{
    private const long HighestMicros = 60_000_000;

    public async Task<Measurement> ClosedLoopAsync(Scenario scenario, int partners, TimeSpan warmup, TimeSpan duration)
    {
        using var phase = new Phase(target, scenario);
        using var rss = new RssSampler(target);
        var clock = Stopwatch.StartNew();
        var measureFrom = warmup;
        var measureTo = warmup + duration;
        var workers = Enumerable.Range(0, partners).Select(w => Task.Run(async () =>
        {
            while (clock.Elapsed < measureTo)
            {
                var start = clock.Elapsed;
                await phase.RunAsync(w, start, counted: start >= measureFrom, clock, measureTo);
            }
        }));
        await Task.Delay(warmup);
        rss.Reset();
        var cpu = new CpuMeter(target.ProcessIds);
        await Task.WhenAll(workers);
        return phase.Result(duration, rss.Peak, cpu.Stop());
    }

    public async Task<Measurement> OpenLoopAsync(Scenario scenario, double operationsPerSecond, TimeSpan warmup, TimeSpan duration)
    {
        using var phase = new Phase(target, scenario);
        using var rss = new RssSampler(target);
        var clock = Stopwatch.StartNew();
        var total = warmup + duration;
        var inFlight = new List<Task>();
        long started = 0;
        var rssReset = false;
        CpuMeter? cpu = null;
        while (clock.Elapsed < total)
        {
            // Operation i is due at i / rate: the first at once, not one interval late.
            var due = (long)(clock.Elapsed.TotalSeconds * operationsPerSecond) + 1;
            for (; started < due; started++)
            {
                // The operation's scheduled time, not the moment this loop got round to it.
                var scheduled = TimeSpan.FromSeconds(started / operationsPerSecond);
                var worker = (int)(started % int.MaxValue);
                inFlight.Add(Task.Run(() => phase.RunAsync(worker, scheduled, counted: scheduled >= warmup, clock, total)));
            }

            if (!rssReset && clock.Elapsed >= warmup)
            {
                rss.Reset();
                cpu = new CpuMeter(target.ProcessIds);
                rssReset = true;
            }

            inFlight.RemoveAll(t => t.IsCompleted);
            await Task.Delay(1);
        }

        await Task.WhenAll(inFlight);
        return phase.Result(duration, rss.Peak, (cpu ?? new CpuMeter(target.ProcessIds)).Stop());
    }

    /// <summary>Counts of one phase, shared by its workers.</summary>
    private sealed class Phase(Target target, Scenario scenario) : IDisposable
    {
        private readonly ConcurrentQueue<LongHistogram> _histograms = new();
        private readonly ConcurrentDictionary<string, long> _errors = new();
        private readonly long[] _signaturesByNode = new long[target.Nodes.Count];
        private readonly ThreadLocal<LongHistogram> _local = new(() => new LongHistogram(HighestMicros, 3), trackAllValues: true);
        private long _operations;

        public async Task RunAsync(int worker, TimeSpan scheduled, bool counted, Stopwatch clock, TimeSpan end)
        {
            try
            {
                var holderTime = await scenario.RunOnceAsync(worker, CancellationToken.None);
                var finished = clock.Elapsed;
                if (counted && finished <= end)
                {
                    var micros = (long)(finished - scheduled - holderTime).TotalMicroseconds;
                    _local.Value!.RecordValue(Math.Clamp(micros, 0, HighestMicros));
                    Interlocked.Increment(ref _operations);
                    Interlocked.Add(ref _signaturesByNode[worker % _signaturesByNode.Length], scenario.SignaturesPerOperation);
                }
            }
            catch (RpcException e)
            {
                if (counted)
                {
                    _errors.AddOrUpdate(e.StatusCode.ToString(), 1, (_, n) => n + 1);
                }

                // A refusal must not turn the loop into a busy spin against the server.
                await Task.Delay(10);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException)
            {
                if (counted)
                {
                    _errors.AddOrUpdate("client: " + e.GetType().Name, 1, (_, n) => n + 1);
                }
            }
        }

        public Measurement Result(TimeSpan duration, long peakRss, CpuUse cpu)
        {
            var latency = new LongHistogram(HighestMicros, 3);
            foreach (var h in _local.Values)
            {
                latency.Add(h);
            }

            var seconds = duration.TotalSeconds;
            return new Measurement(
                _signaturesByNode.Sum() / seconds,
                _operations / seconds,
                latency,
                new Dictionary<string, long>(_errors),
                [.. _signaturesByNode.Select(n => n / seconds)],
                peakRss,
                cpu)
            {
                Seconds = seconds,
            };
        }

        public void Dispose() => _local.Dispose();
    }
}

/// <summary>The largest resident set of the server processes seen while a phase runs (/proc, every 100 ms).</summary>
public sealed class RssSampler : IDisposable
{
    private readonly Target _target;
    private readonly Timer _timer;
    private long _peak;

    public RssSampler(Target target)
    {
        _target = target;
        _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>The peak over all nodes, in bytes (0 when no server process is known).</summary>
    public long Peak => Interlocked.Read(ref _peak);

    public void Reset() => Interlocked.Exchange(ref _peak, 0);

    public static long ResidentBytes(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.WorkingSet64; // VmRSS on Linux
        }
        catch (ArgumentException)
        {
            return 0; // the node has exited
        }
    }

    private void Sample()
    {
        foreach (var node in _target.Nodes)
        {
            if (node.ProcessId is { } pid)
            {
                var rss = ResidentBytes(pid);
                long seen;
                while (rss > (seen = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, rss, seen) != seen)
                {
                }
            }
        }
    }

    public void Dispose() => _timer.Dispose();
}
