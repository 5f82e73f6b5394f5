namespace DTrust.Pki;

/// <summary>
/// The issuing CAs, CRLs and OCSP, read from configuration section <c>DTrust:Pki</c>. The state directory and the
/// development switch come from the host (<see cref="PkiSetup"/>).
/// </summary>
public sealed class PkiOptions
{
    public const string Section = "DTrust:Pki";

    /// <summary>
    /// Where relying parties reach the HTTP listener: written into every certificate (CRL distribution point, OCSP
    /// and CA issuers), so it must be the public name, not the bind address.
    /// </summary>
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:5080";

    /// <summary>
    /// Arc of the QTSP's own certificate policies: levels get .1 (simple), .2 (advanced), .3 (qualified). Keep every
    /// component below 2^63: longer arcs (UUID arcs) are refused by widely used parsers.
    /// </summary>
    public string PolicyArc { get; set; } = PkiOids.PolicyArc;

    /// <summary>
    /// Production: per level name (simple, advanced, qualified) the certificates the operator had issued for the
    /// CSRs under <c>pki/</c>. Missing entries in development get the dev PKI's certificates.
    /// </summary>
    public Dictionary<string, IssuingCaCertificates> Levels { get; set; } = [];

    /// <summary>
    /// Production: the offline root's current CRL (DER), placed here after each root ceremony; served at
    /// /crl/root.crl and handed out with the validation data. Development signs its own when this is empty.
    /// </summary>
    public string? RootCrlPath { get; set; }

    /// <summary>nextUpdate − thisUpdate of every CRL.</summary>
    public int CrlValidityHours { get; set; } = 24;

    /// <summary>
    /// Age at which the background timer re-issues a CRL even without a revocation. Far below the validity, so a
    /// store outage of a few hours never leaves relying parties with an expired CRL.
    /// </summary>
    public int CrlRefreshMinutes { get; set; } = 60;

    /// <summary>
    /// Seconds between a node's looks at the store for a CRL another node published (on the next CRL request or
    /// refresh tick after this): how far behind a node's CRL can be after a revocation on another node.
    /// </summary>
    public int CrlSyncSeconds { get; set; } = 2;

    /// <summary>nextUpdate − thisUpdate of OCSP answers.</summary>
    public int OcspValidityMinutes { get; set; } = 60;

    /// <summary>
    /// Age at which a pre-produced OCSP answer is signed again on its next request, so relying parties never get
    /// one near its nextUpdate. Revocations recorded on this node (and, within seconds, on others) replace the
    /// answer at once, whatever its age. Capped at <see cref="OcspValidityMinutes"/>.
    /// </summary>
    public int OcspRefreshMinutes { get; set; } = 30;

    /// <summary>
    /// How often a pre-produced good (or unknown) answer in demand is checked against the store again: one request
    /// reads the status, the others are served meanwhile. This bounds how long a revocation made on another node
    /// can go unseen here (on this node it is seen at once).
    /// </summary>
    public int OcspRecheckSeconds { get; set; } = 10;

    /// <summary>
    /// How many pre-produced answers (one per issuing CA, CertID hash and serial) are kept; beyond that the least
    /// recently used go. About 1.5 KiB each.
    /// </summary>
    public int OcspCacheEntries { get; set; } = 20_000;

    /// <summary>
    /// How long a signed "unknown" answer for a serial the store does not know is served again. Short: such serials
    /// are what a flood of made-up requests asks about, and a certificate issued meanwhile must soon be answered.
    /// </summary>
    public int OcspUnknownCacheSeconds { get; set; } = 60;

    /// <summary>
    /// Sessions of a level's pool that OCSP signing may hold at once. Credential signing leases from the same pool:
    /// this keeps the rest of the pool for it however many OCSP answers are due.
    /// </summary>
    public int OcspSigningConcurrency { get; set; } = 1;

    /// <summary>How long an OCSP answer may wait for a session and its signature; past it the answer is tryLater.</summary>
    public int OcspSignTimeoutSeconds { get; set; } = 5;

    /// <summary>Rate limit of the public HTTP listener (OCSP, CRLs, CA certificates, HTTP TSA), per client address.</summary>
    public PublicRateLimitOptions RateLimit { get; set; } = new();
}

/// <summary>
/// A token bucket per client IP address on the public HTTP endpoints; over it a request is answered 429 at once
/// (no queue). Behind a proxy every client shares the proxy's address: raise the limits there, or limit at the proxy.
/// </summary>
public sealed class PublicRateLimitOptions
{
    /// <summary>Off only for load tests: the endpoints are unauthenticated and reachable by anyone.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Requests per second one address may sustain.</summary>
    public int PermitsPerSecond { get; set; } = 20;

    /// <summary>Requests one address may send at once after being idle (a relying party checking a chain, a batch).</summary>
    public int Burst { get; set; } = 100;

    /// <summary>
    /// How long a refused request waits for its 429. HTTP/1.1 carries one request at a time per connection, so a
    /// client that floods gets about 1000 / this many answers a second per connection, and with the connections per
    /// address capped (<c>Listen:PublicConnectionsPerAddress</c>) its flood costs timers instead of CPU. 0 answers at once.
    /// </summary>
    public int RejectDelayMilliseconds { get; set; } = 500;
}

/// <summary>PEM files of one level's issuing CA and OCSP responder (production).</summary>
public sealed class IssuingCaCertificates
{
    /// <summary>The issuing CA certificate for <c>pki/ca-{level}.csr.pem</c>.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>The OCSP responder certificate for <c>pki/ocsp-{level}.csr.pem</c>, issued by that CA.</summary>
    public string? OcspCertificatePath { get; set; }

    /// <summary>The certificates above the CA (intermediates, root), for <c>chain-{level}.pem</c>.</summary>
    public string? ChainPath { get; set; }
}
