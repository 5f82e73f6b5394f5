using DTrust.KeyVault;

namespace DTrust.Store;

/// <summary>
/// Credential status (CSC API v2 key status plus the lifecycle of the products we model). Persisted by name.
/// NOT_ACTIVATED → VALID → REVOCATION_IN_PROGRESS → REVOKED; VALID ⇄ LOCKED; EXPIRED once the certificate ends.
/// </summary>
public enum CredentialStatus
{
    NotActivated = 1,
    Valid = 2,
    Locked = 3,
    RevocationInProgress = 4,
    Revoked = 5,
    Expired = 6,
}

/// <summary>How the holder's identity was verified (the methods accepted by the products we model). Persisted by name.</summary>
public enum IdentificationMethod
{
    VideoIdent = 1,
    Eid = 2,
    EidIdent = 3,
    PosIdent = 4,
    Postident = 5,
    NotarIdent = 6,
    EmbassyIdent = 7,
    OfficerIdent = 8,
}

/// <summary>Evidence that the holder was identified, valid until <see cref="ValidUntil"/>.</summary>
public sealed record Identification(IdentificationMethod Method, DateTimeOffset VerifiedAt, DateTimeOffset ValidUntil);

/// <summary>
/// A holder (signer) of one tenant. Changing the phone number or identity data makes the identification stale
/// (<see cref="IdentificationStale"/>): the holder's credentials do not sign until new evidence is recorded.
/// </summary>
public sealed record UserRecord
{
    public required string Tenant { get; init; }

    public required string UserId { get; init; }

    public required string GivenName { get; init; }

    public required string Surname { get; init; }

    /// <summary>ISO 3166-1 alpha-2.</summary>
    public required string Country { get; init; }

    /// <summary>E.164 phone number that receives the second factor.</summary>
    public required string Phone { get; init; }

    public Identification? Identification { get; init; }

    public bool IdentificationStale { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Optimistic concurrency: incremented by every update; an update with a stale version is refused.</summary>
    public long Version { get; init; }
}

/// <summary>
/// One credential: a PIN-bound wrapped key (a person's) or a token-object key (an organisation's seal), its
/// certificate and its status. Ids are opaque random strings. For a seal, <see cref="UserId"/> is the organisation's id.
/// </summary>
public sealed record CredentialRecord
{
    public required string Id { get; init; }

    public required string Tenant { get; init; }

    public required string UserId { get; init; }

    public string? Organisation { get; init; }

    public string? Function { get; init; }

    public required CredentialLevel Level { get; init; }

    public required KeyAlgorithm Algorithm { get; init; }

    public required CredentialStatus Status { get; init; }

    /// <summary>DER X.509 certificate issued by the level's CA.</summary>
    public required byte[] Certificate { get; init; }

    /// <summary>Upper-case hex of the certificate serial, for CRL and OCSP lookups.</summary>
    public required string SerialHex { get; init; }

    public required DateTimeOffset NotAfter { get; init; }

    public required WrappedCredentialKey Key { get; init; }

    public int FailedPinCount { get; init; }

    /// <summary>
    /// Seals only: the ids of the callers (the organisation's own systems) that may sign with the seal. Nobody else
    /// sees or uses it, not even another caller of the same tenant; for a seal this list is its activation.
    /// </summary>
    public IReadOnlyList<string> SealCallers { get; init; } = [];

    /// <summary>How often an operator unlocked it after wrong PINs (capped: each unlock is five more guesses).</summary>
    public int Unlocks { get; init; }

    /// <summary>When the holder first set an activation PIN; null while the key is still under the transport PIN.</summary>
    public DateTimeOffset? ActivatedAt { get; init; }

    /// <summary>ADVANCED only: the holder agreed to sign with the PIN alone (recorded with its time).</summary>
    public DateTimeOffset? OneFactorConsentAt { get; init; }

    /// <summary>RFC 5280 CRLReason code, set when revocation starts.</summary>
    public int? RevocationReason { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public long Version { get; init; }
}

/// <summary>
/// An organisation (legal person) of a tenant that holds seals: its registered name, country and EN 319 412-1
/// identifier, and the authorised representative who applied for its seals, with the evidence of that authority.
/// </summary>
public sealed record OrganisationRecord
{
    public required string Tenant { get; init; }

    public required string OrganisationId { get; init; }

    public required string Name { get; init; }

    /// <summary>ISO 3166-1 alpha-2 of the registration.</summary>
    public required string Country { get; init; }

    /// <summary>organizationIdentifier, e.g. NTRDE-HRB12345 or LEIXG-….</summary>
    public required string Identifier { get; init; }

    /// <summary>The authorised representative's name.</summary>
    public required string Representative { get; init; }

    /// <summary>What shows the representative's authority (register extract, power of attorney: kind and reference).</summary>
    public required string RepresentativeEvidence { get; init; }

    /// <summary>
    /// E.164 number of the representative: confirms (with a code) every operator action that would let a system sign
    /// as the organisation, unless a second operator of the tenant asks for the same.
    /// </summary>
    public required string RepresentativePhone { get; init; }

    /// <summary>When the evidence was checked.</summary>
    public required DateTimeOffset EvidenceVerifiedAt { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    public long Version { get; init; }
}

public enum CallerRole
{
    Operator = 1,
    Partner = 2,
}

/// <summary>
/// A caller of the API of one tenant: authenticated by an API key (only its SHA-256 is stored) or by a TLS client
/// certificate (its SHA-256 thumbprint).
/// </summary>
public sealed record CallerRecord
{
    public required string Id { get; init; }

    public required string Tenant { get; init; }

    public required string Name { get; init; }

    public required CallerRole Role { get; init; }

    /// <summary>SHA-256 of the API key, or of the client certificate's DER; unique.</summary>
    public required byte[] CredentialHash { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Where a partner may send the holder's browser back after an approval (exact URLs, https in production).</summary>
    public IReadOnlyList<string> ReturnUrls { get; init; } = [];
}

/// <summary>A holder's paired passkey (WebAuthn credential): what the server needs to check its assertions.</summary>
public sealed record PasskeyRecord
{
    /// <summary>The WebAuthn credential id, base64url.</summary>
    public required string Id { get; init; }

    public required string Tenant { get; init; }

    public required string UserId { get; init; }

    /// <summary>The COSE public key the authenticator registered.</summary>
    public required byte[] PublicKey { get; init; }

    public uint SignCount { get; init; }

    /// <summary>The authenticator said the key may be backed up (a synced passkey).</summary>
    public bool BackupEligible { get; init; }

    public string Aaguid { get; init; } = "";

    /// <summary>What the holder or the browser called the device.</summary>
    public string Name { get; init; } = "";

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>What an audit entry records. Never a PIN, OTP, API key or key material.</summary>
public sealed record AuditEvent
{
    public required DateTimeOffset Time { get; init; }

    /// <summary>Caller id, or "system" for background steps.</summary>
    public required string Actor { get; init; }

    public required string Tenant { get; init; }

    public string? CredentialId { get; init; }

    /// <summary>e.g. credential.enrolled, credential.activated, pin.wrong, credential.locked, signature.created.</summary>
    public required string Action { get; init; }

    /// <summary>"ok" or the refusal's reason code.</summary>
    public required string Outcome { get; init; }

    /// <summary>Further non-secret facts as compact JSON (hash, algorithm, TSA serial, reason), or null.</summary>
    public string? Details { get; init; }

    /// <summary>
    /// Signatures this entry bills: when set, the usage of (tenant, level, month of <see cref="Time"/> in UTC) grows
    /// by <see cref="UsageCount"/> in the same transaction as the append, so metering and audit never disagree.
    /// Not part of the hashed entry.
    /// </summary>
    public CredentialLevel? UsageLevel { get; init; }

    public int UsageCount { get; init; }
}

/// <summary>Signatures of one tenant, level and month ("yyyy-MM", UTC).</summary>
public sealed record UsageRow(string Month, CredentialLevel Level, long Signatures);

/// <summary>An appended audit event with its place in the chain.</summary>
public sealed record AuditEntry(long Sequence, AuditEvent Event, byte[] PreviousHash, byte[] Hash);
