namespace DTrust.SigningServer.Pki;

/// <summary>
/// The issuing CAs, CRLs and OCSP, read from configuration section <c>DTrust:Pki</c>. The state directory and the
/// development switch come from <see cref="Hosting.ServerOptions"/>.
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

    /// <summary>nextUpdate − thisUpdate of OCSP answers (each is signed live from the store).</summary>
    public int OcspValidityMinutes { get; set; } = 60;
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
