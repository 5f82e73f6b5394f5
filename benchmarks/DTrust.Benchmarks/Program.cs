using BenchmarkDotNet.Running;

namespace DTrust.Benchmarks;

/// <summary>
/// The suites by subsystem; pick with BenchmarkDotNet's own arguments (<c>--filter '*Cades*'</c>, <c>--list flat</c>).
/// Not top-level statements: the referenced server's generated public <c>Program</c> (which WebApplicationFactory
/// needs) would clash with ours in the global namespace.
/// </summary>
internal static class Program
{
    /// <returns>1 when a benchmark did not build or run, so that <c>make bench</c> fails instead of printing NA.</returns>
    public static int Main(string[] args)
    {
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args).ToList();
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
