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
public sealed class SealRegistry(
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
    public async Task<OrganisationRecord> UpsertOrganisationAsync(CallerRecord caller, OrganisationRecord input, CancellationToken ct)
    {
        HolderRules.Validate(input);
        var now = time.GetUtcNow();
        if (input.EvidenceVerifiedAt > now.AddMinutes(5) || input.EvidenceVerifiedAt == default)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "evidence_verified_at must be set and not in the future");
        }

        for (var attempt = 0; attempt < 3; attempt++)
        {
            var existing = await organisations.GetOrganisationAsync(caller.Tenant, input.OrganisationId, ct);
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
        CancellationToken ct)
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

        await RequireCallersAsync(caller, callerIds, ct);
        var id = Callers.ApiKeys.NewId("seal");
        var domain = vault.Domain(SigningPolicy.KeyDomain(level));
        var key = await domain.CreateSealKeyAsync(KeyLabel(id), algorithm, ct);
        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate;
        try
        {
            certificate = await ca.IssueSealAsync(
                level,
                new SealSubject { Name = organisation!.Name, Country = organisation.Country, OrganizationIdentifier = organisation.Identifier },
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
        await store.InsertCredentialAsync(seal, ct);
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
            },
            ct: ct);
        return seal;
    }

    /// <summary>Replaces the callers bound to a seal (its activation); audited with the old and the new list.</summary>
    public async Task<CredentialRecord> SetSealCallersAsync(
        CallerRecord caller, string credentialId, IReadOnlyList<string> callerIds, CancellationToken ct)
    {
        await RequireCallersAsync(caller, callerIds, ct);
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
                    caller.Id, caller.Tenant, seal.Id, "seal.callers_changed", details: new { before = seal.SealCallers, after = callerIds }, ct: ct);
                return next;
            }
        }

        throw new DTrustException(ErrorKind.Unavailable, "the seal was changed concurrently; retry");
    }

    /// <summary>The token object label of a seal's key: the credential id, which is random and never reused.</summary>
    public static string KeyLabel(string credentialId) => "seal:" + credentialId;

    private async Task RequireCallersAsync(CallerRecord caller, IReadOnlyList<string> callerIds, CancellationToken ct)
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
    }
}
