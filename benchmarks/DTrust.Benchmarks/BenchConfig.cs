using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace DTrust.Benchmarks;

/// <summary>
/// The one configuration every suite shares: memory figures and operations per second, short enough to run on a
/// 2-core machine. HSM-bound suites also report a raw C_Sign baseline in the same run so results read as ratios.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(5).WithId("short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.OperationsPerSecond);
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}
