using DTrust.KeyVault;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// Everything the host reads from configuration section <c>DTrust</c> (appsettings.json, or environment variables
/// such as <c>DTrust__Listen__Grpc=0.0.0.0:5050</c>). Defaults are the development set-up of <c>make run</c>.
/// </summary>
public sealed class ServerOptions
{
    public const string Section = "DTrust";

    /// <summary>Holds the SoftHSM configuration, Redis data, the store, PEMs for verifiers and dev keys.</summary>
    public string StateDirectory { get; set; } = ".state";

    /// <summary>Development mode makes the dev PKI at first start; production expects configured certificates.</summary>
    public bool Development { get; set; }

    public ListenerOptions Listen { get; set; } = new();

    public GrpcLimits Grpc { get; set; } = new();

    public HsmOptions Hsm { get; set; } = new();

    public RedisOptions Redis { get; set; } = new();

    public TimestampOptions Tsa { get; set; } = new();

    public AuditOptions Audit { get; set; } = new();

    /// <summary>
    /// Interval of the background probes (every HSM domain, Redis, the TSA) whose results grpc.health.v1 reports:
    /// a health check from outside never triggers HSM calls itself.
    /// </summary>
    public int HealthProbeSeconds { get; set; } = 2;
}

/// <summary>Signed checkpoints of the audit chain: how often, where they go, what they are called.</summary>
public sealed class AuditOptions
{
    /// <summary>Seconds between checkpoints (one is signed only when the chain grew); 0 turns the timer off.</summary>
    public int CheckpointSeconds { get; set; } = 60;

    /// <summary>Where every checkpoint is written (an off-host mount, a directory an object-store sync reads); default {state}/audit-checkpoints.</summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>The note's first line, naming the log; default the host of Pki:PublicBaseUrl followed by /audit.</summary>
    public string? CheckpointOrigin { get; set; }

    /// <summary>Production: the PEM certificate of the audit key (issued for pki/audit.csr.pem); development issues one.</summary>
    public string? CertificatePath { get; set; }
}

/// <summary>Where the server listens. Named so that it does not hide Kestrel's own <c>ListenOptions</c>.</summary>
public sealed class ListenerOptions
{
    /// <summary>gRPC endpoint: cleartext HTTP/2 unless a certificate is configured, then TLS with ALPN h2.</summary>
    public string Grpc { get; set; } = "127.0.0.1:5050";

    /// <summary>Plain HTTP for /healthz, /tsa and /crl: HTTP/1.1 in clear, HTTP/1.1 and 2 with <see cref="HttpTls"/>.</summary>
    public string Http { get; set; } = "127.0.0.1:5080";

    /// <summary>
    /// Admin HTTP/1.1 listener for <c>/metrics</c>: loopback by default, so what the server reveals about its load
    /// and its dependencies is not on the public CRL/OCSP/TSA port. Expose it only to the scraper's network.
    /// </summary>
    public string Admin { get; set; } = "127.0.0.1:5090";

    /// <summary>
    /// The holder's pages (approval, passkey pairing): an origin of their own, so that no partner page and no API
    /// shares it. <c>localhost</c> is bound to loopback.
    /// </summary>
    public string Holder { get; set; } = "localhost:5070";

    /// <summary>
    /// The CSC API (<c>/csc/v2</c>, <c>/csc/v1</c>): authenticated REST for signing tools, never on the public
    /// CRL/OCSP/TSA listener. HTTP/1.1 in clear (loopback only, unless <see cref="AllowInsecure"/>), HTTP/1.1 and 2
    /// over TLS with the listeners' certificate.
    /// </summary>
    public string Csc { get; set; } = "127.0.0.1:5060";

    /// <summary>
    /// The public origin of the holder's pages as the browser sees it (the WebAuthn RP ID is its host); empty means
    /// <c>http://localhost:{port of Holder}</c>, which browsers treat as secure for development. HTTPS in production.
    /// </summary>
    public string? HolderOrigin { get; set; }

    /// <summary>The holder origin to put into links and to expect in WebAuthn client data.</summary>
    public Uri HolderOriginUri => new(string.IsNullOrEmpty(HolderOrigin)
        ? "http://localhost:" + Listeners.Port(Holder).ToString(System.Globalization.CultureInfo.InvariantCulture)
        : HolderOrigin.TrimEnd('/'));

    /// <summary>PEM certificate (chain) for gRPC over TLS; empty means cleartext HTTP/2 (loopback development).</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key for <see cref="TlsCertificatePath"/>.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>Serve the HTTP listener over TLS too (HTTP/1.1 and HTTP/2 by ALPN) with the same certificate.</summary>
    public bool HttpTls { get; set; }

    /// <summary>
    /// Allow a gRPC listener on a non-loopback address without TLS (behind a TLS-terminating proxy on a private
    /// network). Off by default: partner API keys, PINs and OTPs must never cross a network in clear.
    /// </summary>
    public bool AllowInsecure { get; set; }

    /// <summary>TLS client certificates on the gRPC listener: NoCertificate, AllowCertificate or RequireCertificate.</summary>
    public ClientCertificateMode ClientCertificateMode { get; set; } = ClientCertificateMode.NoCertificate;

    /// <summary>Open connections per listener process; null leaves Kestrel's default (unlimited).</summary>
    public long? MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// Open connections one client address (IPv4, or IPv6 /64) may hold on the public HTTP listener; more are closed
    /// as they arrive, before any HTTP is read. With the rate limit's delayed 429s this bounds what one source's
    /// flood costs. Behind a proxy every client shares the proxy's address: raise it there.
    /// </summary>
    public int PublicConnectionsPerAddress { get; set; } = 32;

    /// <summary>Concurrent HTTP/2 streams per connection (Kestrel's default is 100).</summary>
    public int MaxStreamsPerConnection { get; set; } = 100;
}

public sealed class GrpcLimits
{
    /// <summary>
    /// Longest a unary call may run when the client sent no deadline: a client that never sets one must not hold
    /// an HSM session or a Redis challenge forever.
    /// </summary>
    public int DefaultDeadlineSeconds { get; set; } = 30;

    /// <summary>
    /// Longest deadline a client may ask for (longer ones are cut to this): a call that holds a connection slot, a
    /// Redis challenge or a health watch for days is a cheap way to tie the server up.
    /// </summary>
    public int MaxDeadlineSeconds { get; set; } = 300;

    /// <summary>
    /// Calls a second each authenticated caller may make (a token bucket of this size, refilled every second;
    /// over it → RESOURCE_EXHAUSTED): one partner's runaway loop must not starve the others. A load test raises it.
    /// </summary>
    public int CallsPerSecondPerCaller { get; set; } = 1000;

    /// <summary>Largest request message outside the TSA (a batch of hashes fits easily).</summary>
    public int MaxReceiveBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// Largest SigningService request. The largest real one, 100 SHA-512 hashes with the description, PIN, code
    /// and ids, is under 8 KiB; 64 KiB leaves room without letting a caller make the server buffer megabytes.
    /// </summary>
    public int MaxSigningReceiveBytes { get; set; } = 64 * 1024;

    /// <summary>Largest TimestampService request: a TimeStampReq is a few hundred bytes.</summary>
    public int MaxTsaReceiveBytes { get; set; } = 64 * 1024;
}

public sealed class HsmOptions
{
    public string ModulePath { get; set; } = "/usr/lib/softhsm/libsofthsm2.so";

    /// <summary>Logged-in sessions per key domain.</summary>
    public int Sessions { get; set; } = 4;

    /// <summary>
    /// Key domain name → token binding. Missing entries get the token of the same label and the PIN file
    /// <c>{StateDirectory}/hsm/pins/{label}.pin</c>. Two domains on one token are refused at start-up.
    /// </summary>
    public Dictionary<string, DomainBinding> Domains { get; set; } = [];
}

public sealed class DomainBinding
{
    public string? TokenLabel { get; set; }

    public string? TokenSerial { get; set; }

    public string? PinFile { get; set; }
}

public sealed class RedisOptions
{
    /// <summary>A StackExchange.Redis configuration string (host:port, Sentinel, several endpoints).</summary>
    public string Configuration { get; set; } = "127.0.0.1:6390";

    /// <summary>
    /// File holding the Redis password (requirepass), read at start so that it is never on a command line or in
    /// the configuration. Default: <c>{StateDirectory}/redis/password</c> when that file exists.
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// Replicas that must confirm each write that decides who may sign (WAIT) before it counts: 1 behind Sentinel
    /// with one replica, so that a fail-over neither revives a spent challenge nor loses an acknowledged one. 0 (the
    /// default) for a Redis without replicas.
    /// </summary>
    public int ReplicasToAcknowledge { get; set; }

    /// <summary>How long a write waits for those replicas before it fails closed.</summary>
    public int ReplicationTimeoutMilliseconds { get; set; } = 500;
}

public sealed class TimestampOptions
{
    /// <summary>The TSA policy OID written into every TSTInfo (a private dev arc by default).</summary>
    public string? PolicyOid { get; set; }

    /// <summary>Further policies a requester may ask for in reqPolicy.</summary>
    public List<string> AcceptedPolicies { get; set; } = [];

    /// <summary>Declared accuracy in milliseconds (at most 1000, always present in tokens).</summary>
    public int AccuracyMilliseconds { get; set; } = 1000;

    /// <summary>Adds the ETSI qcStatements extension (esi4-qtstStatement-1) to every TSTInfo.</summary>
    public bool Qualified { get; set; }

    /// <summary>
    /// Refuse tokens (timeNotAvailable) while the kernel reports the clock unsynchronised. Turn on in production,
    /// where NTP/PTP disciplines the clock; development machines and containers usually have no such daemon.
    /// </summary>
    public bool RequireSynchronizedClock { get; set; }

    /// <summary>The TSA key in the tsa token: EcP256 (default, ECDSA with SHA-256) or an RSA size (RSA-PSS).</summary>
    public KeyAlgorithm KeyAlgorithm { get; set; } = KeyAlgorithm.EcP256;

    /// <summary>PEM TSA certificate issued elsewhere for the exported CSR; empty in development (dev PKI issues one).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM chain (issuing CA, root) to include when certReq is set.</summary>
    public string? ChainPath { get; set; }
}

/// <summary>The server's own start-up line.</summary>
internal static partial class ReadyLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information,
        Message = "DTrust ready ({Mode}): gRPC :{Grpc}, CSC API :{Csc}, holder pages {Holder}, HTTP :{Http} (/tsa /crl /ocsp /healthz), admin :{Admin} (/metrics); state {State}")]
    public static partial void LogReady(this ILogger logger, string mode, int grpc, int csc, string holder, int http, int admin, string state);
}
