using BenchmarkDotNet.Running;

namespace DTrust.Benchmarks;

/// <summary>
/// The suites by subsystem; pick with BenchmarkDotNet's own arguments (<c>--filter '*Cades*'</c>, <c>--list flat</c>).
/// Not top-level statements: the referenced server's generated public <c>Program</c> (which WebApplicationFactory
/// needs) would clash with ours in the global namespace.
/// </summary>
internal static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
