using Prometheus;

namespace DTrust.Pki;

/// <summary>The PKI's metric families, in the default registry the host exports on <c>/metrics</c>.</summary>
public static class PkiMetrics
{
    private static readonly string[] OcspOutcomes = ["cached", "signed", "unauthorized", "malformed", "try_later", "failed", "rate_limited"];

    private static readonly Counter.Child[] OcspResponses = Children();

    /// <summary>Publishes every family at zero before the first scrape.</summary>
    public static void Configure() => _ = OcspResponses.Length;

    public static void CountOcsp(OcspOutcome outcome) => OcspResponses[(int)outcome].Inc();

    /// <summary>The count so far (tests: an answer that must cost no signature leaves <see cref="OcspOutcome.Signed"/> unchanged).</summary>
    public static double OcspCount(OcspOutcome outcome) => OcspResponses[(int)outcome].Value;

    private static Counter.Child[] Children()
    {
        // Exemplars read Activity.Current on every observation: a cost for nothing this server uses.
        var factory = Prometheus.Metrics.WithCustomRegistry(Prometheus.Metrics.DefaultRegistry);
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        var counter = factory.CreateCounter("dtrust_ocsp_responses_total",
            "OCSP answers: cached (pre-produced), signed (an HSM signature), unauthorized, malformed, try_later, failed, rate_limited (HTTP 429)",
            ["outcome"]);
        return [.. OcspOutcomes.Select(o => counter.WithLabels(o))];
    }
}

/// <summary>How an OCSP request was answered, for the metrics.</summary>
public enum OcspOutcome
{
    /// <summary>A pre-produced response, no HSM signature.</summary>
    Cached,

    /// <summary>A response signed for this request (a cache miss, a refresh, or a request of several certificates).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "the metric's label value")]
    Signed,

    /// <summary>A request naming none of our issuing CAs: unauthorized, unsigned.</summary>
    Unauthorized,

    /// <summary>A request that does not parse, or asks too much: malformedRequest, unsigned.</summary>
    Malformed,

    /// <summary>The responder key's sessions stayed busy past the signing timeout: tryLater, unsigned.</summary>
    TryLater,

    /// <summary>The store or the HSM failed: internalError, unsigned.</summary>
    Failed,

    /// <summary>Turned away by the public listener's rate limit (HTTP 429) before the responder saw it.</summary>
    RateLimited,
}
