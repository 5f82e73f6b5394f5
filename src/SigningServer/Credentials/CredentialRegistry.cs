using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Policy;
using DTrust.SigningServer.Signing;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// The registration authority: holders, their identification, and the credential lifecycle
/// NOT_ACTIVATED → VALID → REVOCATION_IN_PROGRESS → REVOKED, VALID ⇄ LOCKED, EXPIRED. Every change is audited, and
/// every read and write is scoped to the caller's tenant (another tenant's record is NOT_FOUND, like a missing one).
/// </summary>
public sealed class CredentialRegistry(
    ICredentialStore store,
    IOrganisationStore organisations,
    ICallerStore callers,
    AuditTrail audit,
    HsmVault vault,
    ICertificateAuthority ca,
    RevocationSignal revocations,
    ICodeFailureLog codeFailures,
    IOtpSender holderChannel,
    Confirmations confirmations,
    SigningOptions options,
    TimeProvider time)
{
    private static readonly DTrustException NotFound = new(ErrorKind.NotFound, "credential not found");

    /// <summary>
    /// Creates or updates a holder. A new phone number for an existing holder is where their one-time codes would
    /// go from then on, so it needs the holder's confirmation (a code to the current number, passed back as
    /// <paramref name="confirmationCode"/>) or a second operator of the tenant asking for the same number.
    /// </summary>
    public async Task<UserRecord> UpsertHolderAsync(CallerRecord caller, UserRecord input, string? confirmationCode, CancellationToken ct)
    {
        HolderRules.Validate(input);
        if (await organisations.GetOrganisationAsync(caller.Tenant, input.UserId, ct) is not null)
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, $"'{input.UserId}' is an organisation's id in this tenant; choose another user id");
        }

        string? confirmedBy = null;
        var now = time.GetUtcNow();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var existing = await store.GetUserAsync(caller.Tenant, input.UserId, ct);
            if (existing is null)
            {
                var created = input with
                {
                    Tenant = caller.Tenant,
                    Identification = null,
                    IdentificationStale = false,
                    CreatedAt = now,
                    UpdatedAt = now,
                    Version = 1,
                };
                if (await store.InsertUserAsync(created, ct))
                {
                    await audit.RecordAsync(caller.Id, caller.Tenant, null, "holder.created", details: new { user = input.UserId }, ct: ct);
                    return created;
                }

                continue;
            }

            if (existing.Phone != input.Phone && confirmedBy is null)
            {
                var text = $"DTrust: an operator asked to send your signing codes to the number ending {Tail(input.Phone)} from now on. " +
                    "Only if you asked for this, give them code {code} (valid 10 minutes).";
                confirmedBy = await ConfirmedAsync(
                    caller, "phone", input.UserId, null, input.Phone, existing.Phone, text, confirmationCode,
                    "the new phone number needs the holder's confirmation: a code went to the current number; call again with it, " +
                    "or have a second operator of the tenant make the same change", ct);
            }

            // New identity data or a new phone number need a new identification before the holder signs again.
            var identityChanged = existing.GivenName != input.GivenName || existing.Surname != input.Surname
                || existing.Country != input.Country || existing.Phone != input.Phone;
            var updated = existing with
            {
                GivenName = input.GivenName,
                Surname = input.Surname,
                Country = input.Country,
                Phone = input.Phone,
                IdentificationStale = existing.IdentificationStale || (identityChanged && existing.Identification is not null),
                UpdatedAt = now,
                Version = existing.Version + 1,
            };
            if (await store.UpdateUserAsync(updated, existing.Version, ct))
            {
                await audit.RecordAsync(
                    caller.Id, caller.Tenant, null, "holder.updated",
                    details: new { user = input.UserId, identity_changed = identityChanged, phone_change_confirmed_by = confirmedBy }, ct: ct);
                return updated;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the holder was changed concurrently; retry");
    }

    public async Task<UserRecord> GetHolderAsync(CallerRecord caller, string userId, CancellationToken ct) =>
        await store.GetUserAsync(caller.Tenant, userId, ct)
        ?? throw new DTrustException(ErrorKind.NotFound, "holder not found");

    public async Task<UserRecord> RecordIdentificationAsync(
        CallerRecord caller, string userId, Identification evidence, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (evidence.VerifiedAt > now.AddMinutes(5) || evidence.ValidUntil <= evidence.VerifiedAt || evidence.ValidUntil <= now)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "identification must be verified in the past and valid until a later, future time");
        }

        for (var attempt = 0; attempt < 3; attempt++)
        {
            var user = await GetHolderAsync(caller, userId, ct);
            var updated = user with { Identification = evidence, IdentificationStale = false, UpdatedAt = now, Version = user.Version + 1 };
            if (await store.UpdateUserAsync(updated, user.Version, ct))
            {
                await audit.RecordAsync(
                    caller.Id, caller.Tenant, null, "holder.identified",
                    details: new { user = userId, method = evidence.Method.ToString(), valid_until = evidence.ValidUntil }, ct: ct);
                return updated;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the holder was changed concurrently; retry");
    }

    /// <summary>
    /// Creates the key in the level's domain under a random transport PIN, sends the PIN to the holder (the channel
    /// one-time codes take: the phone on record), certifies the key and stores the credential NOT_ACTIVATED. The
    /// PIN is kept nowhere and never returned: an operator who could read it could activate the credential and
    /// choose its PIN, which is the holder's alone. If it cannot be delivered, nothing is certified or stored.
    /// </summary>
    public async Task<CredentialRecord> EnrollAsync(
        CallerRecord caller, string userId, CredentialLevel level, KeyAlgorithm algorithm,
        string? organisation, string? function, CancellationToken ct)
    {
        if (level.IsSeal())
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "a seal belongs to an organisation: enrol it with EnrollSeal");
        }

        var user = await GetHolderAsync(caller, userId, ct);
        var now = time.GetUtcNow();
        if (SigningPolicy.IdentificationProblem(user, now) is { } problem)
        {
            await audit.RecordAsync(caller.Id, caller.Tenant, null, "credential.enrol", "refused: " + problem, new { user = userId }, ct: ct);
            throw new DTrustException(ErrorKind.FailedPrecondition, "cannot enrol: " + problem);
        }

        HolderRules.ValidateOptional(organisation, "organisation");
        HolderRules.ValidateOptional(function, "function");
        var id = Callers.ApiKeys.NewId("cred");
        var transportPin = Pins.NewTransportPin();
        var pinBytes = Pins.Activation(transportPin);
        WrappedCredentialKey key;
        try
        {
            key = await vault.Domain(SigningPolicy.KeyDomain(level)).CreateCredentialKeyAsync(algorithm, pinBytes, ct);
        }
        finally
        {
            Array.Clear(pinBytes);
        }

        var letter = await SendTransportPinAsync(caller, user, id, level, transportPin, ct);

        var certificate = await ca.IssueAsync(
            level,
            new CertificateHolder
            {
                GivenName = user.GivenName,
                Surname = user.Surname,
                Country = user.Country,
                Organisation = Empty(organisation),
                Function = Empty(function),
            },
            key.SubjectPublicKeyInfo, algorithm, ct);
        var credential = new CredentialRecord
        {
            Id = id,
            Tenant = caller.Tenant,
            UserId = userId,
            Organisation = Empty(organisation),
            Function = Empty(function),
            Level = level,
            Algorithm = algorithm,
            Status = CredentialStatus.NotActivated,
            Certificate = certificate.RawData,
            SerialHex = certificate.SerialNumber,
            NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime()),
            Key = key,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        await store.InsertCredentialAsync(credential, ct);
        await audit.RecordAsync(
            caller.Id, caller.Tenant, credential.Id, "credential.enrolled",
            details: new
            {
                user = userId,
                level = level.ToString(),
                algorithm = algorithm.ToString(),
                serial = credential.SerialHex,
                transport_pin_sent = letter,
            },
            ct: ct);
        return credential;
    }

    /// <summary>The outbox/SMS key of a credential's transport PIN (development readers look it up by this id).</summary>
    public static string TransportPinMessageId(string credentialId) => "transport-pin:" + credentialId;

    /// <summary>Sends the transport PIN to the holder's phone; returns the text as sent, with the PIN masked, for the audit.</summary>
    private async Task<string> SendTransportPinAsync(
        CallerRecord caller, UserRecord user, string credentialId, CredentialLevel level, string transportPin, CancellationToken ct)
    {
        static string Text(CredentialLevel level, string pin) =>
            $"DTrust: the transport PIN of your new {level.ToString().ToLowerInvariant()} signing credential is {pin}. " +
            "You need it once, to choose your own signing PIN. Never share it.";
        try
        {
            await holderChannel.SendAsync(
                new OtpMessage(TransportPinMessageId(credentialId), credentialId, user.Phone, transportPin, Text(level, transportPin)), ct);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            await audit.RecordAsync(
                caller.Id, caller.Tenant, null, "credential.enrol", "refused: the transport PIN could not be sent",
                new { user = user.UserId }, ct: CancellationToken.None);
            throw new DTrustException(ErrorKind.Unavailable, "the transport PIN could not be sent to the holder; nothing was enrolled, retry", e);
        }

        return Text(level, new string('*', transportPin.Length));
    }

    /// <summary>Transport PIN → activation PIN: re-wraps the key, NOT_ACTIVATED → VALID.</summary>
    public async Task<CredentialRecord> ActivateAsync(
        CallerRecord caller, string credentialId, string? transportPin, string? activationPin, CancellationToken ct)
    {
        var newPin = Pins.Activation(activationPin);
        var oldPin = Pins.Presented(transportPin, "transport PIN");
        try
        {
            var credential = await GetStoredAsync(caller, credentialId, ct);
            RequireStatus(credential, "activate", CredentialStatus.NotActivated);
            var rewrapped = await WithPinAttemptAsync(
                caller, credential, "credential.activate", "wrong transport PIN",
                () => vault.Domain(SigningPolicy.KeyDomain(credential.Level)).RewrapAsync(credential.Key, oldPin, newPin, ct), ct);

            var activated = await MutateAsync(caller, credentialId, c =>
            {
                RequireStatus(c, "activate", CredentialStatus.NotActivated);
                return c with { Key = rewrapped, Status = CredentialStatus.Valid, FailedPinCount = 0 };
            }, ct);
            await audit.RecordAsync(caller.Id, caller.Tenant, credentialId, "credential.activated", ct: ct);
            return activated;
        }
        finally
        {
            Array.Clear(newPin);
            Array.Clear(oldPin);
        }
    }

    /// <summary>
    /// Runs <paramref name="useKey"/>, the HSM's only judgement of a PIN, under one attempt taken before it and given
    /// back on success; the attempt that reaches <see cref="SigningPolicy.PinAttempts"/> locks the credential (NOT_ACTIVATED too,
    /// which keeps its transport PIN as the only PIN). Counting first means neither concurrent calls, a cancelled
    /// call nor a store fault after the HSM's answer can try more PINs than the limit. An attempt is given back only
    /// when the vault says it never judged the PIN (device faults); a cancelled call keeps it.
    /// </summary>
    public async Task<T> WithPinAttemptAsync<T>(
        CallerRecord caller, CredentialRecord credential, string during, string wrongPin, Func<Task<T>> useKey, CancellationToken ct)
    {
        // Not cancellable either: an attempt the store took is always audited below, never left half-recorded.
        ct.ThrowIfCancellationRequested();
        var taken = await store.TakePinAttemptAsync(
            caller.Tenant, credential.Id, credential.Status, SigningPolicy.PinAttempts, time.GetUtcNow(), CancellationToken.None);
        if (taken is not { } attempt)
        {
            var now = Effective(await GetStoredAsync(caller, credential.Id, CancellationToken.None));
            var why = $"the credential is {SigningPolicy.StatusName(now.Status)}";
            await audit.RecordAsync(caller.Id, caller.Tenant, credential.Id, during, "refused: " + why, ct: CancellationToken.None);
            throw new DTrustException(ErrorKind.FailedPrecondition, why + "; no PIN attempt left");
        }

        T result;
        try
        {
            result = await useKey();
        }
        catch (KeyVaultException e) when (e.Kind == KeyVaultErrorKind.WrongPin)
        {
            await AttemptSpentAsync(caller, credential.Id, during, "refused: wrong PIN", attempt);
            throw new DTrustException(ErrorKind.FailedPrecondition, wrongPin);
        }
        catch (KeyVaultException e) when (e.Kind is KeyVaultErrorKind.HsmUnavailable or KeyVaultErrorKind.HsmError
            or KeyVaultErrorKind.CorruptKeyBlob or KeyVaultErrorKind.WrongDomain or KeyVaultErrorKind.InvalidInput)
        {
            await store.ReturnPinAttemptAsync(caller.Tenant, credential.Id, SigningPolicy.PinAttempts, time.GetUtcNow(), CancellationToken.None);
            throw;
        }
        catch (Exception e)
        {
            // Cancelled, or the HSM call ended in a way that does not show whether the PIN was tried: it counts.
            await AttemptSpentAsync(caller, credential.Id, during, "refused: PIN attempt not settled (" + e.GetType().Name + ")", attempt);
            throw;
        }

        // Not the caller's token: a reset the client's cancellation skipped would leave the right PIN counted.
        await store.ResetWrongPinsAsync(caller.Tenant, credential.Id, SigningPolicy.PinAttempts, time.GetUtcNow(), CancellationToken.None);
        return result;
    }

    /// <summary>Audits a spent attempt, and the lock if this attempt took the last one; not cancellable.</summary>
    private async Task AttemptSpentAsync(
        CallerRecord caller, string credentialId, string during, string outcome, (int FailedPins, CredentialStatus Status) attempt)
    {
        await audit.RecordAsync(
            caller.Id, caller.Tenant, credentialId, "pin.wrong", outcome, new { during, failed = attempt.FailedPins }, ct: CancellationToken.None);
        if (attempt.Status == CredentialStatus.Locked)
        {
            await audit.RecordAsync(
                caller.Id, caller.Tenant, credentialId, "credential.locked", details: new { failed = attempt.FailedPins }, ct: CancellationToken.None);
        }
    }

    public async Task<CredentialRecord> GetAsync(CallerRecord caller, string credentialId, CancellationToken ct) =>
        SigningPolicy.AsSeenBy(Effective(await GetStoredAsync(caller, credentialId, ct)), caller);

    public async Task<(IReadOnlyList<CredentialRecord> Page, string? Next)> ListAsync(
        CallerRecord caller, string? userId, bool onlyValid, string? afterId, int pageSize, CancellationToken ct)
    {
        // Pages of what the caller may see: the next-page token is the last id returned, so it never names a
        // credential the caller may not see (another partner's seal); skipped records are skipped again from there.
        var size = pageSize is <= 0 or > 500 ? 100 : pageSize;
        var visible = new List<CredentialRecord>();
        var after = Empty(afterId);
        while (true)
        {
            var page = await store.ListCredentialsAsync(caller.Tenant, Empty(userId), onlyValid, after, size + 1, ct);
            for (var i = 0; i < page.Count; i++)
            {
                var c = page[i];
                var effective = Effective(c);
                if (!SigningPolicy.Visible(c, caller) || (onlyValid && effective.Status != CredentialStatus.Valid))
                {
                    continue;
                }

                if (visible.Count == size)
                {
                    return (visible, visible[^1].Id);
                }

                visible.Add(SigningPolicy.AsSeenBy(effective, caller));
            }

            if (page.Count <= size)
            {
                return (visible, null);
            }

            after = page[^1].Id;
        }
    }

    /// <summary>VALID, LOCKED or NOT_ACTIVATED → REVOCATION_IN_PROGRESS at once; the publisher finishes it.</summary>
    public async Task<CredentialRecord> RevokeAsync(CallerRecord caller, string credentialId, int reason, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var revoked = await MutateAsync(caller, credentialId, c =>
        {
            RequireStatus(c, "revoke", CredentialStatus.Valid, CredentialStatus.Locked, CredentialStatus.NotActivated);
            return c with { Status = CredentialStatus.RevocationInProgress, RevokedAt = now, RevocationReason = reason };
        }, ct);

        // Before anything that can fail or be cancelled: the store says revoked, so OCSP must too from now on.
        ca.RevocationRecorded();
        revocations.Notify();
        if (revoked.Key.IsTokenObject)
        {
            await DestroySealKeyAsync(caller, revoked);
        }

        await audit.RecordAsync(caller.Id, caller.Tenant, credentialId, "credential.revocation_started", details: new { reason }, ct: CancellationToken.None);
        return revoked;
    }

    /// <summary>
    /// A revoked seal's key is destroyed on its token: revocation is final, and a key that no longer exists cannot
    /// sign by mistake. The status already stops every signature, so an HSM fault here is audited, not fatal.
    /// </summary>
    private async Task DestroySealKeyAsync(CallerRecord caller, CredentialRecord seal)
    {
        var outcome = "ok";
        try
        {
            if (!await vault.Domain(SigningPolicy.KeyDomain(seal.Level)).DestroySealKeyAsync(seal.Key, CancellationToken.None))
            {
                outcome = "ok: already gone";
            }
        }
        catch (KeyVaultException e)
        {
            outcome = "failed: " + e.Kind;
        }

        await audit.RecordAsync(caller.Id, caller.Tenant, seal.Id, "seal.key_destroyed", outcome, ct: CancellationToken.None);
    }

    /// <summary>
    /// LOCKED → VALID (or back to NOT_ACTIVATED) and the counters reset; the old PIN stays the only PIN. Each unlock
    /// gives whoever guesses PINs five more tries, so it needs the holder's confirmation (a code to the phone on
    /// record, passed back as <paramref name="confirmationCode"/>) or a second operator of the tenant, and a
    /// credential is unlocked at most <see cref="SigningOptions.UnlocksPerCredential"/> times.
    /// </summary>
    public async Task<CredentialRecord> UnlockAsync(CallerRecord caller, string credentialId, string? confirmationCode, CancellationToken ct)
    {
        var credential = Effective(await GetStoredAsync(caller, credentialId, ct));
        RequireStatus(credential, "unlock", CredentialStatus.Locked);
        if (!SigningPolicy.UnlocksLeft(credential, options))
        {
            await audit.RecordAsync(
                caller.Id, caller.Tenant, credentialId, "credential.unlock", "refused: no unlocks left", new { unlocks = credential.Unlocks }, ct: ct);
            throw new DTrustException(
                ErrorKind.FailedPrecondition,
                $"the credential was unlocked {credential.Unlocks} times, the most allowed; revoke it and enrol a new one");
        }

        var holder = await GetHolderAsync(caller, credential.UserId, ct);
        var text = $"DTrust: an operator asked to unlock your {credential.Level.ToString().ToLowerInvariant()} signing credential after wrong PINs. " +
            "Only if you asked for this, give them code {code} (valid 10 minutes).";
        var confirmedBy = await ConfirmedAsync(
            caller, "unlock", credentialId, credentialId, "", holder.Phone, text, confirmationCode,
            "unlocking needs the holder's confirmation: a code went to the phone on record; call again with it, " +
            "or have a second operator of the tenant ask too", ct);

        var unlocked = await MutateAsync(caller, credentialId, c =>
        {
            RequireStatus(c, "unlock", CredentialStatus.Locked);

            // Again here: two confirmed unlocks racing must not both pass a check made before the confirmation.
            if (!SigningPolicy.UnlocksLeft(c, options))
            {
                throw new DTrustException(
                    ErrorKind.FailedPrecondition, $"the credential was unlocked {c.Unlocks} times, the most allowed; revoke it and enrol a new one");
            }

            return c with
            {
                Status = c.ActivatedAt is null ? CredentialStatus.NotActivated : CredentialStatus.Valid,
                FailedPinCount = 0,
                Unlocks = c.Unlocks + 1,
            };
        }, ct);
        await codeFailures.ResetWrongCodesAsync(caller.Tenant, credentialId, CancellationToken.None);
        await audit.RecordAsync(
            caller.Id, caller.Tenant, credentialId, "credential.unlocked",
            details: new { confirmed_by = confirmedBy, unlocks = unlocked.Unlocks }, ct: ct);
        return unlocked;
    }

    /// <summary>
    /// Runs the confirmation of an operator action; returns who confirmed it, or throws FAILED_PRECONDITION with
    /// <paramref name="waiting"/> while it waits (the request and the message sent audited).
    /// </summary>
    internal async Task<string> ConfirmedAsync(
        CallerRecord caller, string action, string subject, string? credentialId, string value, string holderPhone, string text,
        string? code, string waiting, CancellationToken ct)
    {
        var confirmation = await confirmations.AskAsync(caller, action, subject, value, holderPhone, text, code, ct);
        switch (confirmation.Outcome)
        {
            case ConfirmationOutcome.Confirmed:
                return confirmation.ConfirmedBy!;
            case ConfirmationOutcome.Requested:
                await audit.RecordAsync(
                    caller.Id, caller.Tenant, credentialId, "confirmation.requested",
                    details: new { action, subject, message = confirmation.Message }, ct: CancellationToken.None);
                throw new DTrustException(ErrorKind.FailedPrecondition, waiting);
            default:
                throw new DTrustException(ErrorKind.FailedPrecondition, waiting + " (a request is already waiting)");
        }
    }

    /// <summary>The last two digits of a phone number: enough for the holder to recognise it, not to read it out.</summary>
    internal static string Tail(string phone) => phone.Length > 2 ? phone[^2..] : phone;

    /// <summary>
    /// VALID → LOCKED when the day's wrong one-time codes reached the cap; nothing if it is no longer VALID. Not
    /// cancellable: the lock must not depend on the guesser staying on the line.
    /// </summary>
    public async Task LockAfterWrongCodesAsync(CallerRecord caller, string credentialId, int wrongCodes)
    {
        var changed = false;
        await MutateAsync(caller, credentialId, c =>
        {
            changed = c.Status == CredentialStatus.Valid;
            return changed ? c with { Status = CredentialStatus.Locked } : c;
        }, CancellationToken.None);
        if (changed)
        {
            await audit.RecordAsync(
                caller.Id, caller.Tenant, credentialId, "credential.locked",
                details: new { reason = "wrong one-time codes", wrong_codes_today = wrongCodes }, ct: CancellationToken.None);
        }
    }

    public async Task<CredentialRecord> SetOneFactorConsentAsync(
        CallerRecord caller, string credentialId, bool consent, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var updated = await MutateAsync(caller, credentialId, c =>
        {
            if (!SigningPolicy.MayConsentToOneFactor(c.Level))
            {
                throw new DTrustException(
                    ErrorKind.FailedPrecondition, $"one-factor consent exists only for ADVANCED credentials, not {c.Level.ToString().ToUpperInvariant()}");
            }

            RequireStatus(c, "change consent of", CredentialStatus.NotActivated, CredentialStatus.Valid, CredentialStatus.Locked);
            return c with { OneFactorConsentAt = consent ? now : null };
        }, ct);
        await audit.RecordAsync(caller.Id, caller.Tenant, credentialId, "credential.consent", details: new { one_factor = consent }, ct: ct);
        return updated;
    }

    /// <summary>The credential as the policy sees it now (<see cref="SigningPolicy.Effective"/>).</summary>
    public CredentialRecord Effective(CredentialRecord c) => SigningPolicy.Effective(c, time.GetUtcNow());

    /// <summary>The holder of a credential of the caller's tenant, or null if there is none (the policy refuses that).</summary>
    /// <summary>The caller as the store has it now (revoked or not), bypassing the authentication cache; null if unknown.</summary>
    public Task<CallerRecord?> FindCallerAsync(string callerId, CancellationToken ct) => callers.GetCallerAsync(callerId, ct);

    public Task<UserRecord?> FindHolderAsync(CallerRecord caller, string userId, CancellationToken ct) =>
        store.GetUserAsync(caller.Tenant, userId, ct);

    /// <summary>Wrong second-factor responses the credential took today (UTC), counted durably.</summary>
    public Task<int> WrongCodesTodayAsync(CallerRecord caller, string credentialId, CancellationToken ct) =>
        codeFailures.WrongCodesTodayAsync(caller.Tenant, credentialId, time.GetUtcNow(), ct);

    /// <summary>
    /// Counts a wrong second-factor response durably and returns today's count; not cancellable (cancelling must not
    /// skip the count). At the policy's cap the caller then locks with <see cref="LockAfterWrongCodesAsync"/>.
    /// </summary>
    public Task<int> RecordWrongCodeAsync(CallerRecord caller, string credentialId, bool voided) =>
        codeFailures.RecordWrongCodeAsync(caller.Tenant, credentialId, voided, time.GetUtcNow(), CancellationToken.None);

    /// <summary>The credential as stored, if the caller may see it (<see cref="SigningPolicy.Visible"/>), else NOT_FOUND.</summary>
    public async Task<CredentialRecord> GetStoredAsync(CallerRecord caller, string credentialId, CancellationToken ct) =>
        string.IsNullOrEmpty(credentialId)
            ? throw new DTrustException(ErrorKind.InvalidArgument, "credential_id is required")
            : await store.GetCredentialAsync(caller.Tenant, credentialId, ct) is { } found && SigningPolicy.Visible(found, caller)
            ? found
            : throw NotFound;

    /// <summary>Read, change, write with the version check; a concurrent change is re-read and the rule re-applied.</summary>
    private async Task<CredentialRecord> MutateAsync(
        CallerRecord caller, string credentialId, Func<CredentialRecord, CredentialRecord> change, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = Effective(await GetStoredAsync(caller, credentialId, ct));
            var next = change(current);
            if (ReferenceEquals(next, current))
            {
                return current;
            }

            var stored = next with
            {
                Status = next.Status == CredentialStatus.Expired ? current.Status : next.Status,
                ActivatedAt = next.Status == CredentialStatus.Valid && current.Status == CredentialStatus.NotActivated
                    ? time.GetUtcNow()
                    : next.ActivatedAt,
                UpdatedAt = time.GetUtcNow(),
                Version = current.Version + 1,
            };
            if (await store.UpdateCredentialAsync(stored, current.Version, ct))
            {
                return stored;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the credential was changed concurrently; retry");
    }

    private static void RequireStatus(CredentialRecord c, string verb, params CredentialStatus[] allowed)
    {
        if (!allowed.Contains(c.Status))
        {
            throw new DTrustException(
                ErrorKind.FailedPrecondition, $"cannot {verb} a credential that is {SigningPolicy.StatusName(c.Status)}");
        }
    }

    private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
