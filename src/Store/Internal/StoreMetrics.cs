using System.Diagnostics;
using Prometheus;

namespace DTrust.Store.Internal;

/// <summary>
/// The store's round-trip histogram, in the default registry the host exports on <c>/metrics</c>. Children are
/// resolved once so that timing a call is one observation on a cached child.
/// </summary>
internal static class StoreMetrics
{
    // 50 µs … 2.5 s: an fsync is about 85 µs, a PostgreSQL round trip a few hundred, a stalled database seconds.
    private static readonly double[] Buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private static readonly Histogram Duration = Factory().CreateHistogram(
        "dtrust_store_duration_seconds",
        "Credential store calls by operation; audit_append waits for a durable entry, audit_commit is one group commit",
        ["operation"], new HistogramConfiguration { Buckets = Buckets });

    public static readonly Histogram.Child AuditAppend = Duration.WithLabels("audit_append");
    public static readonly Histogram.Child AuditCommit = Duration.WithLabels("audit_commit");
    public static readonly Histogram.Child CredentialRead = Duration.WithLabels("credential_read");
    public static readonly Histogram.Child UserRead = Duration.WithLabels("user_read");
    public static readonly Histogram.Child CallerRead = Duration.WithLabels("caller_read");

    /// <summary>Observes the seconds since <paramref name="start"/>, a <see cref="Stopwatch"/> timestamp.</summary>
    public static void ObserveSince(this Histogram.Child histogram, long start) =>
        histogram.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);

    // Exemplars read Activity.Current on every observation: a hot-path cost for nothing this server uses.
    private static MetricFactory Factory()
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(Prometheus.Metrics.DefaultRegistry);
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        return factory;
    }
}
