namespace DTrust.Store;

/// <summary>
/// Holders and their credentials. Every read and write is scoped by tenant: a record of another tenant is
/// indistinguishable from a missing one. What a method returned is durable (committed and synced).
/// Engines: <c>SqliteStore</c> (embedded default) and <c>PostgresStore</c> (several nodes), one contract test suite.
/// </summary>
public interface ICredentialStore : IRevocationSource
{
    Task<UserRecord?> GetUserAsync(string tenant, string userId, CancellationToken ct);

    /// <summary>Inserts a new holder (Version 1); false when the id is taken in the tenant.</summary>
    Task<bool> InsertUserAsync(UserRecord user, CancellationToken ct);

    /// <summary>Replaces the holder when its stored version is <paramref name="expectedVersion"/>; false otherwise.</summary>
    Task<bool> UpdateUserAsync(UserRecord user, long expectedVersion, CancellationToken ct);

    Task InsertCredentialAsync(CredentialRecord credential, CancellationToken ct);

    Task<CredentialRecord?> GetCredentialAsync(string tenant, string credentialId, CancellationToken ct);

    /// <summary>
    /// Credentials of a tenant ordered by id, after <paramref name="afterId"/> (paging), at most
    /// <paramref name="limit"/>; optionally of one holder, optionally only VALID ones.
    /// </summary>
    Task<IReadOnlyList<CredentialRecord>> ListCredentialsAsync(
        string tenant, string? userId, bool onlyValid, string? afterId, int limit, CancellationToken ct);

    /// <summary>Replaces the credential when its stored version is <paramref name="expectedVersion"/>; false otherwise.</summary>
    Task<bool> UpdateCredentialAsync(CredentialRecord credential, long expectedVersion, CancellationToken ct);

    /// <summary>
    /// Takes one PIN attempt before the HSM is asked, atomically: only while the credential is
    /// <paramref name="expected"/> and fewer than <paramref name="limit"/> attempts are counted; the attempt that
    /// reaches the limit locks it in the same statement. Returns the new count and status, or null when no attempt
    /// may be taken (missing, another status, or no attempts left).
    /// </summary>
    Task<(int FailedPins, CredentialStatus Status)?> TakePinAttemptAsync(
        string tenant, string credentialId, CredentialStatus expected, int limit, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// After a right PIN: the count to zero, and a PIN lock lifted (to VALID, or NOT_ACTIVATED if never activated).
    /// Only a lock the PIN count set (count at <paramref name="limit"/>): a lock for another reason (the daily cap of
    /// wrong one-time codes) stays. A credential already at zero is not written.
    /// </summary>
    Task ResetWrongPinsAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Gives one taken attempt back when the HSM never judged the PIN (a device fault): one less, and a PIN lock
    /// lifted if this attempt was the one that reached <paramref name="limit"/> (a lock for another reason stays).
    /// </summary>
    Task ReturnPinAttemptAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct);

    /// <summary>Credentials in REVOCATION_IN_PROGRESS, any tenant (the background step that publishes CRLs).</summary>
    Task<IReadOnlyList<CredentialRecord>> ListRevocationsInProgressAsync(CancellationToken ct);

    /// <summary>The credential holding the certificate with this serial, any tenant (OCSP), or null.</summary>
    Task<CredentialRecord?> FindBySerialAsync(CredentialLevel level, string serialHex, CancellationToken ct);
}

/// <summary>Organisations that hold seals, per tenant.</summary>
public interface IOrganisationStore
{
    Task<OrganisationRecord?> GetOrganisationAsync(string tenant, string organisationId, CancellationToken ct);

    /// <summary>The organisation registered under this organizationIdentifier, in any tenant, or null.</summary>
    Task<OrganisationRecord?> FindOrganisationByIdentifierAsync(string identifier, CancellationToken ct);

    /// <summary>Inserts a new organisation (Version 1); false when the id is taken in the tenant or the identifier anywhere.</summary>
    Task<bool> InsertOrganisationAsync(OrganisationRecord organisation, CancellationToken ct);

    /// <summary>Replaces the organisation when its stored version is <paramref name="expectedVersion"/>; false otherwise.</summary>
    Task<bool> UpdateOrganisationAsync(OrganisationRecord organisation, long expectedVersion, CancellationToken ct);
}

/// <summary>API callers (operators and partners). Keys are stored only as hashes.</summary>
public interface ICallerStore
{
    /// <summary>Inserts a caller; false when its credential hash is already registered.</summary>
    Task<bool> InsertCallerAsync(CallerRecord caller, CancellationToken ct);

    /// <summary>The caller whose API key or client certificate hashes to <paramref name="credentialHash"/>, revoked or not.</summary>
    Task<CallerRecord?> FindCallerAsync(byte[] credentialHash, CancellationToken ct);

    /// <summary>The caller with this id, revoked or not (OAuth's <c>client_id</c> names a partner this way).</summary>
    Task<CallerRecord?> GetCallerAsync(string callerId, CancellationToken ct);

    Task<IReadOnlyList<CallerRecord>> ListCallersAsync(string tenant, CancellationToken ct);

    /// <summary>Marks a caller of the tenant revoked; false when there is no such caller.</summary>
    Task<bool> RevokeCallerAsync(string tenant, string callerId, DateTimeOffset at, CancellationToken ct);
}

/// <summary>Holders' paired passkeys, per tenant and holder.</summary>
public interface IPasskeyStore
{
    /// <summary>Inserts a passkey; false when its credential id is already registered (to anyone).</summary>
    Task<bool> InsertPasskeyAsync(PasskeyRecord passkey, CancellationToken ct);

    Task<IReadOnlyList<PasskeyRecord>> ListPasskeysAsync(string tenant, string userId, CancellationToken ct);

    /// <summary>Removes the holder's passkey; false when the holder has no such passkey.</summary>
    Task<bool> DeletePasskeyAsync(string tenant, string userId, string passkeyId, CancellationToken ct);

    /// <summary>Moves the signature counter forward; false when it would not move forward (a replayed or cloned authenticator).</summary>
    Task<bool> AdvancePasskeyCounterAsync(string passkeyId, uint signCount, CancellationToken ct);
}

/// <summary>
/// The append-only, hash-chained audit log: one chain per store, even with several server nodes appending.
/// Appends are group-committed: concurrent callers share one transaction, and each call returns only once its
/// entry is durable.
/// </summary>
public interface IAuditLog
{
    /// <summary>Appends and returns the durable entry (its sequence number and hash).</summary>
    Task<AuditEntry> AppendAsync(AuditEvent entry, CancellationToken ct);

    /// <summary>Every entry in sequence order, as stored (verification recomputes the chain from these).</summary>
    IAsyncEnumerable<AuditEntry> ReadAllAsync(CancellationToken ct);

    /// <summary>The entries after <paramref name="afterSequence"/> in sequence order (what a checkpoint adds to the last).</summary>
    IAsyncEnumerable<AuditEntry> ReadAfterAsync(long afterSequence, CancellationToken ct);

    /// <summary>The chain head the store keeps beside the entries: the last sequence and its hash (0 and zeros when empty).</summary>
    Task<(long Sequence, byte[] Hash)> GetHeadAsync(CancellationToken ct);

    /// <summary>
    /// One tenant's entries after <paramref name="afterSequence"/> in sequence order, optionally of one credential
    /// and one action: what an auditor reads to re-check the evidence of signatures.
    /// </summary>
    Task<IReadOnlyList<AuditEntry>> ListEntriesAsync(
        string tenant, string? credentialId, string? action, long afterSequence, int limit, CancellationToken ct);
}

/// <summary>What partners are billed for: signatures per tenant, level and month, counted as they are audited.</summary>
public interface IUsageReport
{
    /// <summary>The tenant's rows, optionally of one month ("yyyy-MM"), ordered by month and level.</summary>
    Task<IReadOnlyList<UsageRow>> GetUsageAsync(string tenant, string? month, CancellationToken ct);
}

/// <summary>
/// Wrong one-time codes per credential and UTC day, durable (not only in Redis, whose challenge counters a restart,
/// a flush or anyone who can write there resets): the daily cap that stops guessing across challenges.
/// </summary>
public interface ICodeFailureLog
{
    /// <summary>
    /// Counts one wrong code (and, with <paramref name="voided"/>, one challenge it voided) for the UTC day of
    /// <paramref name="now"/> atomically; an earlier day's count starts again at zero. Returns the day's wrong codes.
    /// </summary>
    Task<int> RecordWrongCodeAsync(string tenant, string credentialId, bool voided, DateTimeOffset now, CancellationToken ct);

    /// <summary>Wrong codes of the credential on the UTC day of <paramref name="now"/> (0 for none).</summary>
    Task<int> WrongCodesTodayAsync(string tenant, string credentialId, DateTimeOffset now, CancellationToken ct);

    /// <summary>Clears the credential's count (an operator's reset after checking with the holder).</summary>
    Task ResetWrongCodesAsync(string tenant, string credentialId, CancellationToken ct);
}
