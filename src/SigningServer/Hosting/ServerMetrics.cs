using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using DTrust.Tsa;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using Prometheus;

namespace DTrust.SigningServer.Hosting;

/// <summary>How a signing or authorization request ended, for the metrics.</summary>
internal enum Outcome
{
    /// <summary>Signed, or authorized.</summary>
    Done,

    /// <summary>Turned down: the caller's input, the credential's state, a wrong code or PIN, a spent challenge.</summary>
    Refused,

    /// <summary>A dependency (HSM, Redis, store, TSA, SMS gateway) or the server itself failed.</summary>
    Failed,
}

/// <summary>One-time code events: delivery on AuthorizeSignature, the challenge check on SignHash.</summary>
internal enum OtpOutcome
{
    Sent,
    SendFailed,
    Accepted,
    Wrong,
    Exhausted,
    NotFound,
    HashesDiffer,
}


/// <summary>Who asked for a time-stamp token: a client of the TSA (gRPC or HTTP), or the signing flow.</summary>
internal enum TsaSource
{
    Request,
    Signature,
}

/// <summary>
/// Every metric the server exports on <c>GET /metrics</c> (admin listener only), defined in one place. Label values
/// come from small fixed sets (levels, formats, outcomes, operations, gRPC methods and status codes): no label ever
/// carries a credential, user, challenge, tenant, caller or key. Labelled children are resolved once, here, so that
/// counting on the signing path is an interlocked add on a cached child: no lookup, no string, no allocation.
/// </summary>
internal static class ServerMetrics
{
    // 0.25 ms … 5 s: an RPC spans a Redis round trip (tens of µs) up to an RSA-3072 batch or a slow SMS gateway.
    private static readonly double[] RpcBuckets = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    // 50 µs … 2.5 s: a loopback Redis round trip is about 25 µs, an fsync about 85 µs, a stalled dependency seconds.
    private static readonly double[] RoundTripBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private static readonly string[] Levels = ["simple", "advanced", "qualified", "qualified_seal", "advanced_seal"];
    private static readonly string[] Formats = ["raw", "cades", "pades"];
    private static readonly string[] SignOutcomes = ["signed", "refused", "failed"];
    private static readonly string[] AuthorizeOutcomes = ["authorized", "refused", "failed"];
    private static readonly string[] OtpOutcomes = ["sent", "send_failed", "accepted", "wrong", "exhausted", "not_found", "hashes_differ"];
    private static readonly string[] TsaSources = ["request", "signature"];
    private static readonly string[] TsaOutcomes = ["granted", "rejected", "failed"];

    private static readonly MetricFactory Factory = FactoryWithoutExemplars();

    private static readonly Counter.Child[,,] Signatures = Children3(
        Factory.CreateCounter("dtrust_signatures_total", "Signatures by credential level, format and outcome; a batch counts each hash",
            ["level", "format", "outcome"]),
        Levels, Formats, SignOutcomes);

    private static readonly Counter.Child[,] Authorizations = Children2(
        Factory.CreateCounter("dtrust_authorizations_total", "AuthorizeSignature calls by credential level and outcome", ["level", "outcome"]),
        Levels, AuthorizeOutcomes);

    private static readonly Counter.Child[] Otps = Children1(
        Factory.CreateCounter("dtrust_otp_total",
            "One-time codes sent or not, and challenge checks on SignHash: accepted, wrong, exhausted (challenge void), not_found, hashes_differ",
            ["outcome"]),
        OtpOutcomes);

    private static readonly Counter.Child[,] TsaTokens = Children2(
        Factory.CreateCounter("dtrust_tsa_tokens_total", "RFC 3161 time-stamp answers by who asked and how they ended", ["source", "outcome"]),
        TsaSources, TsaOutcomes);


    private static readonly Histogram RpcDuration = Factory.CreateHistogram(
        "dtrust_rpc_duration_seconds", "gRPC calls by service, method and status code, from the first interceptor to the handler's end",
        ["service", "method", "code"], new HistogramConfiguration { Buckets = RpcBuckets });

    // Status codes 0–16, named as on the wire (OK, INVALID_ARGUMENT, …).
    private static readonly string[] CodeNames = [.. Enumerable.Range(0, 17).Select(c => JsonNamingPolicy.SnakeCaseUpper.ConvertName(((StatusCode)c).ToString()))];

    // Keyed by the declared method name (endpoint metadata, never the request path): a fixed, small set.
    private static readonly ConcurrentDictionary<string, Histogram.Child?[]> RpcChildren = new(StringComparer.Ordinal);

    private static readonly Histogram CscDuration = Factory.CreateHistogram(
        "dtrust_csc_duration_seconds", "CSC API calls by method and HTTP status (499: the client went away)",
        ["method", "status"], new HistogramConfiguration { Buckets = RpcBuckets });

    private static readonly Histogram RedisDuration = Factory.CreateHistogram(
        "dtrust_redis_duration_seconds", "Round trips to Redis for challenges, by operation",
        ["operation"], new HistogramConfiguration { Buckets = RoundTripBuckets });


    public static readonly Histogram.Child RedisCreate = RedisDuration.WithLabels("create");
    public static readonly Histogram.Child RedisConsume = RedisDuration.WithLabels("consume");
    public static readonly Histogram.Child RedisDelete = RedisDuration.WithLabels("delete");
    public static readonly Histogram.Child RedisSendCount = RedisDuration.WithLabels("send_count");


    /// <summary>
    /// Call once at start-up, before <c>/metrics</c> is first scraped. The vault's meter is exported; other .NET
    /// meters and event counters are not: ASP.NET Core's and Kestrel's per-request instruments would cost on every
    /// call and carry addresses, and the RPC histogram already covers the calls.
    /// </summary>
    public static void Configure()
    {
        Prometheus.Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressEventCounters = true });
        Prometheus.Metrics.ConfigureMeterAdapter(o =>
        {
            o.InstrumentFilterPredicate = instrument => instrument.Meter.Name == HsmVault.MeterName;

            // The vault's instruments are observable: read at each scrape, so never stale.
            o.MetricsExpireAfter = TimeSpan.FromDays(1);
        });

        // Reading the fields runs the type initializer now, so every family is published (at zero) from the first scrape.
        _ = Signatures.Length + Authorizations.Length + Otps.Length + TsaTokens.Length;
        PkiMetrics.Configure();
    }

    /// <summary><c>GET /metrics</c> in the Prometheus text format, on <paramref name="listener"/> only.</summary>
    public static void MapServerMetrics(this IEndpointRouteBuilder app, ListenerPort listener) =>
        app.MapMetrics().WithMetadata(new HttpMethodMetadata([HttpMethods.Get])).OnListener(listener).AllowAnonymous();

    /// <summary>Refused when the request was turned down, failed when something on our side broke.</summary>
    public static Outcome OutcomeOf(Exception e) => e switch
    {
        DTrustException { Kind: ErrorKind.Unavailable or ErrorKind.Internal } => Outcome.Failed,
        DTrustException => Outcome.Refused,
        KeyVaultException { Kind: KeyVaultErrorKind.InvalidInput } => Outcome.Refused,
        _ => Outcome.Failed,
    };

    public static void CountSignatures(CredentialLevel level, SignatureFormat format, Outcome outcome, int count)
    {
        if (LevelIndex(level) is var l and >= 0 && (uint)format < Formats.Length)
        {
            Signatures[l, (int)format, (int)outcome].Inc(count);
        }
    }

    public static void CountAuthorization(CredentialLevel level, Outcome outcome)
    {
        if (LevelIndex(level) is var l and >= 0)
        {
            Authorizations[l, (int)outcome].Inc();
        }
    }

    public static void CountOtp(OtpOutcome outcome) => Otps[(int)outcome].Inc();

    /// <summary>The challenge check of a SignHash; a challenge that needed no code is no one-time code event.</summary>
    public static void CountChallengeCheck(ConsumeOutcome outcome)
    {
        OtpOutcome? otp = outcome switch
        {
            ConsumeOutcome.ConsumedWithCode => OtpOutcome.Accepted,
            ConsumeOutcome.WrongCode => OtpOutcome.Wrong,
            ConsumeOutcome.Exhausted => OtpOutcome.Exhausted,
            ConsumeOutcome.HashesDiffer => OtpOutcome.HashesDiffer,
            ConsumeOutcome.NotFound => OtpOutcome.NotFound,
            _ => null,
        };
        if (otp is { } counted)
        {
            CountOtp(counted);
        }
    }

    public static void CountTsaToken(TsaSource source, TsaResult result)
    {
        var outcome = result.IsGranted ? 0
            : (result.FailureInfo & (PkiFailureInfo.SystemFailure | PkiFailureInfo.TimeNotAvailable)) != 0 ? 2
            : 1;
        TsaTokens[(int)source, outcome].Inc();
    }

    /// <summary>Observes one gRPC call that started at <paramref name="start"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public static void ObserveRpc(string method, StatusCode code, long start)
    {
        var children = RpcChildren.GetOrAdd(method, static _ => new Histogram.Child?[17]);
        var c = (uint)code < children.Length ? (int)code : (int)StatusCode.Unknown;

        // A race here resolves the same child twice (WithLabels returns the existing one): harmless.
        var child = children[c] ??= RpcChild(method, c);
        child.ObserveSince(start);
    }

    /// <summary>Observes one CSC API call; <paramref name="method"/> is the declared method name, never the request path.</summary>
    public static void CountCsc(string method, int status, long start) =>
        CscDuration.WithLabels(method, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).ObserveSince(start);

    /// <summary>Observes the seconds since <paramref name="start"/>, a <see cref="Stopwatch"/> timestamp.</summary>
    public static void ObserveSince(this Histogram.Child histogram, long start) =>
        histogram.Observe(Stopwatch.GetElapsedTime(start).TotalSeconds);

    /// <summary>
    /// Exemplars (on by default) read Activity.Current and record its trace id on every observation: a cost on the
    /// hot path for nothing this server uses.
    /// </summary>
    private static MetricFactory FactoryWithoutExemplars()
    {
        var factory = Prometheus.Metrics.WithCustomRegistry(Prometheus.Metrics.DefaultRegistry);
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        return factory;
    }

    private static int LevelIndex(CredentialLevel level) => level is >= CredentialLevel.Simple and <= CredentialLevel.AdvancedSeal
        ? (int)level - (int)CredentialLevel.Simple
        : -1;

    /// <summary>"/pkg.Service/Method" → service "pkg.Service", method "Method".</summary>
    private static Histogram.Child RpcChild(string path, int code)
    {
        var slash = path.LastIndexOf('/');
        var service = slash > 0 ? path[1..slash] : "";
        return RpcDuration.WithLabels(service, path[(slash + 1)..], CodeNames[code]);
    }

    private static Counter.Child[] Children1(Counter counter, string[] a) => [.. a.Select(x => counter.WithLabels(x))];

    private static Counter.Child[,] Children2(Counter counter, string[] a, string[] b)
    {
        var children = new Counter.Child[a.Length, b.Length];
        for (var i = 0; i < a.Length; i++)
        {
            for (var j = 0; j < b.Length; j++)
            {
                children[i, j] = counter.WithLabels(a[i], b[j]);
            }
        }

        return children;
    }

    private static Counter.Child[,,] Children3(Counter counter, string[] a, string[] b, string[] c)
    {
        var children = new Counter.Child[a.Length, b.Length, c.Length];
        for (var i = 0; i < a.Length; i++)
        {
            for (var j = 0; j < b.Length; j++)
            {
                for (var k = 0; k < c.Length; k++)
                {
                    children[i, j, k] = counter.WithLabels(a[i], b[j], c[k]);
                }
            }
        }

        return children;
    }
}
