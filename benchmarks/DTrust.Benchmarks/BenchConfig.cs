using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Perfolizer.Horology;

namespace DTrust.Benchmarks;

/// <summary>
/// The one configuration every suite shares: memory figures (the Allocated column is per operation, so per signature
/// where a benchmark sets OperationsPerInvoke) and operations per second. HSM-bound suites also report a raw C_Sign
/// baseline in the same run so results read as ratios. The job follows <see cref="BenchMatrix"/>: the quick set of
/// <c>make bench</c> runs one launch, one warm-up and three short iterations per case; otherwise two warm-ups and five
/// iterations of BenchmarkDotNet's default length.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddJob(BenchMatrix.Quick
            ? Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3)
                .WithIterationTime(TimeInterval.FromMilliseconds(250)).WithId("quick")
            : Job.Default.WithWarmupCount(2).WithIterationCount(5).WithId("short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.OperationsPerSecond);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);

        // BenchmarkDotNet builds its boilerplate project (and so the server and its references) without the compiler
        // server; beside parallel builds on 2 cores that took more than its default two minutes.
        WithBuildTimeout(TimeSpan.FromMinutes(10));
    }
}

/// <summary>
/// How much of each suite's parameter space to run, from <c>DTRUST_BENCH_MATRIX</c>: <c>quick</c> (what
/// <c>make bench</c> sets: one representative case per question, minutes in all), unset (the default matrix), or
/// <c>full</c> (every algorithm and session count; what <c>make bench-full</c> sets). The variable reaches the
/// benchmark processes BenchmarkDotNet starts, so parameters and jobs agree between host and child.
/// </summary>
public static class BenchMatrix
{
    public static readonly string Name = Environment.GetEnvironmentVariable("DTRUST_BENCH_MATRIX") ?? "";

    public static bool Quick => Name == "quick";

    public static bool Full => Name == "full";

    /// <summary>A comma-separated list in <paramref name="variable"/> narrows the matrix (e.g. EcP256 and 1 to chase one case).</summary>
    public static T[] Only<T>(string variable, T[] all, Func<string, T> parse) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } list
            ? [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse)]
            : all;
}
