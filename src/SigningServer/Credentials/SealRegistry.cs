using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Policy;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// The registration authority for legal persons: organisations, their authorised representative's evidence, and
/// their seal credentials. A seal's key is a token object in its level's seal domain and its activation is the list
/// of callers (the organisation's systems) bound to it, so enrolment makes it VALID at once. Revocation, expiry and
/// listing are the <see cref="CredentialRegistry"/>'s, as for any credential. Every change is audited.
/// </summary>
/// <remarks>
/// A seal signs for whoever is bound to it, so no single operator may bind anyone: a new seal, new callers of a
/// seal and a new representative each need the representative's code (sent to the phone on record) or a second
/// operator of the tenant asking for exactly the same, as unlocking and a new phone do for a person.
/// </remarks>
public sealed class SealRegistry(
    CredentialRegistry registry,
    ICredentialStore store,
    IOrganisationStore organisations,
    ICallerStore callers,
    AuditTrail audit,
    HsmVault vault,
    ICertificateAuthority ca,
    TimeProvider time)
{
    /// <summary>
    /// Creates or replaces the organisation. A changed name, country or identifier reaches only seals enrolled from
    /// then on: a certificate already issued keeps what it says (revoke and enrol anew to change it).
    /// </summary>
    public async Task<OrganisationRecord> UpsertOrganisationAsync(
        CallerRecord caller, OrganisationRecord input, string? confirmationCode, CancellationToken ct)
    {
        HolderRules.Validate(input);
        var now = time.GetUtcNow();
        if (input.EvidenceVerifiedAt > now.AddMinutes(5) || input.EvidenceVerifiedAt == default)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "evidence_verified_at must be set and not in the future");
        }

        // A seal's credential names its organisation where a person's names its holder: one id space per tenant.
        if (await store.GetUserAsync(caller.Tenant, input.OrganisationId, ct) is not null)
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, $"'{input.OrganisationId}' is a holder's id in this tenant; choose another organisation id");
        }

        // One organisation per register entry: a copy under another id (or tenant) would get seals confirmed by
        // whoever's phone the copy names, in the real organisation's name.
        if (await organisations.FindOrganisationByIdentifierAsync(input.Identifier, ct) is { } holder
            && (holder.Tenant != caller.Tenant || holder.OrganisationId != input.OrganisationId))
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, $"an organisation with identifier {input.Identifier} is already registered");
        }

        string? confirmedBy = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var existing = await organisations.GetOrganisationAsync(caller.Tenant, input.OrganisationId, ct);
            if (existing is not null && confirmedBy is null && IdentityOf(existing) != IdentityOf(input))
            {
                // Who the organisation is and who speaks for it decide what its next seal says and who confirms it:
                // the current representative agrees to any change of them (or a second operator asks for the same).
                confirmedBy = await registry.ConfirmedAsync(
                    caller, "representative", input.OrganisationId, null, IdentityOf(input), existing.RepresentativePhone,
                    $"DTrust: an operator asked to change {existing.Name} to {input.Name}, {input.Identifier}, represented by " +
                    $"{input.Representative} (phone ending {CredentialRegistry.Tail(input.RepresentativePhone)}). " +
                    "Only if you agree, give them code {code} (valid 10 minutes).",
                    confirmationCode,
                    "a change to the organisation or its representative needs the current representative's confirmation: a code went to " +
                    "their phone; call again with it, or have a second operator of the tenant make the same change", ct);
            }

            var next = input with
            {
                Tenant = caller.Tenant,
                CreatedAt = existing?.CreatedAt ?? now,
                UpdatedAt = now,
                Version = (existing?.Version ?? 0) + 1,
            };
            var written = existing is null
                ? await organisations.InsertOrganisationAsync(next, ct)
                : await organisations.UpdateOrganisationAsync(next, existing.Version, ct);
            if (written)
            {
                await audit.RecordAsync(
                    caller.Id, caller.Tenant, null, existing is null ? "organisation.created" : "organisation.updated",
                    details: new
                    {
                        organisation = next.OrganisationId,
                        name = next.Name,
                        identifier = next.Identifier,
                        representative = next.Representative,
                        evidence = next.RepresentativeEvidence,
                        evidence_verified_at = next.EvidenceVerifiedAt,
                        representative_change_confirmed_by = confirmedBy,
                    },
                    ct: ct);
                return next;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the organisation was changed concurrently; retry");
    }

    public async Task<OrganisationRecord> GetOrganisationAsync(CallerRecord caller, string organisationId, CancellationToken ct) =>
        await organisations.GetOrganisationAsync(caller.Tenant, organisationId ?? "", ct)
        ?? throw new DTrustException(ErrorKind.NotFound, "organisation not found");

    /// <summary>
    /// Generates the seal's key as a token object in the level's seal domain, certifies it for the organisation
    /// and stores the seal VALID, usable by exactly <paramref name="callerIds"/> (partners of the tenant).
    /// </summary>
    public async Task<CredentialRecord> EnrollSealAsync(
        CallerRecord caller, string organisationId, CredentialLevel level, KeyAlgorithm algorithm, IReadOnlyList<string> callerIds,
        string? confirmationCode, CancellationToken ct)
    {
        if (!level.IsSeal())
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "level must be QUALIFIED_SEAL or ADVANCED_SEAL");
        }

        var organisation = await organisations.GetOrganisationAsync(caller.Tenant, organisationId ?? "", ct);
        if (SigningPolicy.OrganisationProblem(organisation) is { } problem)
        {
            await audit.RecordAsync(caller.Id, caller.Tenant, null, "seal.enrol", "refused: " + problem, new { organisation = organisationId }, ct: ct);
            throw new DTrustException(organisation is null ? ErrorKind.NotFound : ErrorKind.FailedPrecondition, "cannot enrol: " + problem);
        }

        var bound = await RequireCallersAsync(caller, callerIds, ct);
        var kind = level == CredentialLevel.QualifiedSeal ? "qualified" : "advanced";

        // What is confirmed is what is then made: the organisation as it reads now, the level, the key, the callers.
        var confirmedBy = await registry.ConfirmedAsync(
            caller, "seal-enrol", organisation!.OrganisationId, null,
            $"{IdentityOf(organisation)}|{level}|{algorithm}|{Bound(callerIds)}", organisation.RepresentativePhone,
            $"DTrust: an operator asked to create a {kind} seal of {organisation.Name} ({organisation.Identifier}) usable by " +
            $"{Names(bound)}. Only if you asked for this, give them code {{code}} (valid 10 minutes).",
            confirmationCode,
            "a new seal needs the representative's confirmation: a code went to their phone; call again with it, " +
            "or have a second operator of the tenant ask for the same seal", ct);
        var id = Callers.ApiKeys.NewId("seal");
        var domain = vault.Domain(SigningPolicy.KeyDomain(level));
        var key = await domain.CreateSealKeyAsync(KeyLabel(id), algorithm, ct);
        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate;
        try
        {
            certificate = await ca.IssueSealAsync(
                level,
                new SealSubject { Name = organisation.Name, Country = organisation.Country, OrganizationIdentifier = organisation.Identifier },
                key.SubjectPublicKeyInfo, algorithm, ct);
        }
        catch
        {
            // A key no certificate names is of no use to anyone: leave no orphan on the token.
            await domain.DestroySealKeyAsync(key, CancellationToken.None);
            throw;
        }

        var now = time.GetUtcNow();
        var seal = new CredentialRecord
        {
            Id = id,
            Tenant = caller.Tenant,
            UserId = organisation.OrganisationId,
            Organisation = organisation.Name,
            Level = level,
            Algorithm = algorithm,
            Status = CredentialStatus.Valid,
            Certificate = certificate.RawData,
            SerialHex = certificate.SerialNumber,
            NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime()),
            Key = key,
            SealCallers = [.. callerIds],
            ActivatedAt = now,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        try
        {
            await store.InsertCredentialAsync(seal, ct);
        }
        catch
        {
            // Not recorded, so never usable: leave no key behind on the token.
            await domain.DestroySealKeyAsync(key, CancellationToken.None);
            throw;
        }

        await audit.RecordAsync(
            caller.Id, caller.Tenant, seal.Id, "seal.enrolled",
            details: new
            {
                organisation = organisation.OrganisationId,
                identifier = organisation.Identifier,
                level = level.ToString(),
                algorithm = algorithm.ToString(),
                serial = seal.SerialHex,
                callers = callerIds,
                confirmed_by = confirmedBy,
            },
            ct: ct);
        return seal;
    }

    /// <summary>Replaces the callers bound to a seal (its activation); audited with the old and the new list.</summary>
    public async Task<CredentialRecord> SetSealCallersAsync(
        CallerRecord caller, string credentialId, IReadOnlyList<string> callerIds, string? confirmationCode, CancellationToken ct)
    {
        var bound = await RequireCallersAsync(caller, callerIds, ct);
        var current = await store.GetCredentialAsync(caller.Tenant, credentialId ?? "", ct);
        if (current is null || !current.Level.IsSeal())
        {
            throw new DTrustException(ErrorKind.NotFound, "seal not found");
        }

        if (current.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked)
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, $"the seal is {SigningPolicy.StatusName(current.Status)}");
        }

        var organisation = await GetOrganisationAsync(caller, current.UserId, ct);
        var confirmedBy = await registry.ConfirmedAsync(
            caller, "seal-callers", current.Id, current.Id, Bound(callerIds), organisation.RepresentativePhone,
            $"DTrust: an operator asked that from now on {Names(bound)} sign with the seal of {organisation.Name}. " +
            "Only if you asked for this, give them code {code} (valid 10 minutes).",
            confirmationCode,
            "new callers of a seal need the representative's confirmation: a code went to their phone; call again with it, " +
            "or have a second operator of the tenant ask for the same callers", ct);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var seal = await store.GetCredentialAsync(caller.Tenant, credentialId ?? "", ct);
            if (seal is null || !seal.Level.IsSeal())
            {
                throw new DTrustException(ErrorKind.NotFound, "seal not found");
            }

            if (seal.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked)
            {
                throw new DTrustException(ErrorKind.FailedPrecondition, $"the seal is {SigningPolicy.StatusName(seal.Status)}");
            }

            var next = seal with { SealCallers = [.. callerIds], UpdatedAt = time.GetUtcNow(), Version = seal.Version + 1 };
            if (await store.UpdateCredentialAsync(next, seal.Version, ct))
            {
                await audit.RecordAsync(
                    caller.Id, caller.Tenant, seal.Id, "seal.callers_changed",
                    details: new { before = seal.SealCallers, after = callerIds, confirmed_by = confirmedBy }, ct: CancellationToken.None);
                return next;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the seal was changed concurrently; retry");
    }

    /// <summary>Who the organisation is and who speaks for it, as one value to confirm.</summary>
    private static string IdentityOf(OrganisationRecord o) =>
        string.Join('|', o.Name, o.Country, o.Identifier, o.Representative, o.RepresentativePhone);

    /// <summary>The callers as the representative reads them: name and id.</summary>
    private static string Names(IReadOnlyList<CallerRecord> callers) =>
        string.Join(", ", callers.Select(c => $"{c.Name} ({c.Id})"));

    /// <summary>The callers as one value to confirm: the same set in any order is the same request.</summary>
    private static string Bound(IReadOnlyList<string> callerIds) => string.Join(',', callerIds.Order(StringComparer.Ordinal));

    /// <summary>The token object label of a seal's key: the credential id, which is random and never reused.</summary>
    public static string KeyLabel(string credentialId) => KeyDomain.SealLabelPrefix + credentialId;

    private async Task<IReadOnlyList<CallerRecord>> RequireCallersAsync(CallerRecord caller, IReadOnlyList<string> callerIds, CancellationToken ct)
    {
        var found = new List<CallerRecord?>(callerIds.Count);
        foreach (var id in callerIds.Take(SigningPolicy.MaxSealCallers + 1))
        {
            found.Add(string.IsNullOrEmpty(id) ? null : await callers.GetCallerAsync(id, ct));
        }

        if (SigningPolicy.SealCallersProblem(found, callerIds, caller.Tenant) is { } problem)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
        }

        return [.. found.Select(c => c!)];
    }
}
