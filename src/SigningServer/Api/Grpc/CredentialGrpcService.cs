using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Factors;
using DTrust.Store;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using V1 = DTrust.Signing.V1;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary>
/// <c>dtrust.signing.v1.CredentialService</c>: validation and mapping only; the rules live in
/// <see cref="CredentialRegistry"/>. Each method names its roles.
/// </summary>
internal sealed class CredentialGrpcService(
    CredentialRegistry registry,
    SealRegistry seals,
    ICertificateAuthority ca,
    CallerAdministration admin,
    PasskeyPairing pairing,
    IAuditLog auditLog,
    AuditCheckpoints checkpoints,
    AuditProofs proofs,
    IUsageReport usage) : V1.CredentialService.CredentialServiceBase
{
    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Holder> UpsertHolder(V1.UpsertHolderRequest request, ServerCallContext context)
    {
        var caller = context.Caller();
        var user = await registry.UpsertHolderAsync(
            caller, ProtoMapping.FromProto(request.Holder, caller.Tenant), request.ConfirmationCode, context.CancellationToken);
        return ProtoMapping.ToProto(user);
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Holder> GetHolder(V1.GetHolderRequest request, ServerCallContext context) =>
        ProtoMapping.ToProto(await registry.GetHolderAsync(context.Caller(), request.UserId, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Holder> RecordIdentification(V1.RecordIdentificationRequest request, ServerCallContext context)
    {
        var user = await registry.RecordIdentificationAsync(
            context.Caller(), request.UserId, ProtoMapping.FromProto(request.Identification), context.CancellationToken);
        return ProtoMapping.ToProto(user);
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.EnrollCredentialResponse> EnrollCredential(V1.EnrollCredentialRequest request, ServerCallContext context)
    {
        var level = ProtoMapping.ToLevel(request.Level);
        var algorithm = ProtoMapping.ToAlgorithm(request.KeyAlgorithm);
        var credential = await registry.EnrollAsync(
            context.Caller(), request.UserId, level, algorithm, request.Organisation, request.Function, context.CancellationToken);
        return new V1.EnrollCredentialResponse { Credential = ToProto(credential) };
    }

    [AllowRoles(CallerRole.Operator, CallerRole.Partner)]
    public override async Task<V1.Credential> ActivateCredential(V1.ActivateCredentialRequest request, ServerCallContext context) =>
        ToProto(await registry.ActivateAsync(
            context.Caller(), request.CredentialId, request.TransportPin, request.ActivationPin, context.CancellationToken));

    [AllowRoles(CallerRole.Operator, CallerRole.Partner)]
    public override async Task<V1.Credential> GetCredential(V1.GetCredentialRequest request, ServerCallContext context) =>
        ToProto(await registry.GetAsync(context.Caller(), request.CredentialId, context.CancellationToken));

    [AllowRoles(CallerRole.Operator, CallerRole.Partner)]
    public override async Task<V1.ListCredentialsResponse> ListCredentials(V1.ListCredentialsRequest request, ServerCallContext context)
    {
        var (page, next) = await registry.ListAsync(
            context.Caller(), request.UserId, request.OnlyValid, request.PageToken, request.PageSize, context.CancellationToken);
        var response = new V1.ListCredentialsResponse { NextPageToken = next ?? "" };
        response.Credentials.AddRange(page.Select(ToProto));
        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Credential> RevokeCredential(V1.RevokeCredentialRequest request, ServerCallContext context) =>
        ToProto(await registry.RevokeAsync(context.Caller(), request.CredentialId, (int)request.Reason, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Credential> UnlockCredential(V1.UnlockCredentialRequest request, ServerCallContext context) =>
        ToProto(await registry.UnlockAsync(context.Caller(), request.CredentialId, request.ConfirmationCode, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Credential> SetOneFactorConsent(V1.SetOneFactorConsentRequest request, ServerCallContext context) =>
        ToProto(await registry.SetOneFactorConsentAsync(context.Caller(), request.CredentialId, request.Consent, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.CreateCallerResponse> CreateCaller(V1.CreateCallerRequest request, ServerCallContext context)
    {
        var (created, key) = await admin.CreateAsync(
            context.Caller(), request.Name, ProtoMapping.ToRole(request.Role), [.. request.ReturnUrls], context.CancellationToken);
        return new V1.CreateCallerResponse { Caller = ProtoMapping.ToProto(created), ApiKey = key };
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.PairingLink> CreatePairingLink(V1.CreatePairingLinkRequest request, ServerCallContext context)
    {
        var (url, expires) = await pairing.CreateLinkAsync(context.Caller(), request.UserId, context.CancellationToken);
        return new V1.PairingLink { Url = url.ToString(), ExpiresAt = Timestamp.FromDateTimeOffset(expires) };
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.ListPasskeysResponse> ListPasskeys(V1.ListPasskeysRequest request, ServerCallContext context) =>
        ToProto(await pairing.ListAsync(context.Caller(), request.UserId, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.ListPasskeysResponse> RemovePasskey(V1.RemovePasskeyRequest request, ServerCallContext context) =>
        ToProto(await pairing.RemoveByOperatorAsync(context.Caller(), request.UserId, request.PasskeyId, context.CancellationToken));

    private static V1.ListPasskeysResponse ToProto(IReadOnlyList<PasskeyRecord> passkeys)
    {
        var response = new V1.ListPasskeysResponse();
        response.Passkeys.AddRange(passkeys.Select(p => new V1.Passkey
        {
            PasskeyId = p.Id,
            Name = p.Name,
            CreatedAt = Timestamp.FromDateTimeOffset(p.CreatedAt),
            BackupEligible = p.BackupEligible,
        }));
        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.ListCallersResponse> ListCallers(V1.ListCallersRequest request, ServerCallContext context)
    {
        var response = new V1.ListCallersResponse();
        response.Callers.AddRange((await admin.ListAsync(context.Caller(), context.CancellationToken)).Select(ProtoMapping.ToProto));
        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Caller> RevokeCaller(V1.RevokeCallerRequest request, ServerCallContext context) =>
        ProtoMapping.ToProto(await admin.RevokeAsync(context.Caller(), request.CallerId, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.VerifyAuditLogResponse> VerifyAuditLog(V1.VerifyAuditLogRequest request, ServerCallContext context)
    {
        // The head first: an entry appended while the chain is read then makes the head older, never newer, than the walk.
        var (headSequence, headHash) = await auditLog.GetHeadAsync(context.CancellationToken);
        var result = await AuditChain.VerifyAsync(auditLog.ReadAllAsync(context.CancellationToken), [.. request.CheckpointSizes, headSequence], context.CancellationToken);
        var response = new V1.VerifyAuditLogResponse
        {
            Intact = result.Intact,
            Entries = result.Entries,
            FirstBadSequence = result.FirstBadSequence ?? 0,
            Problem = result.Problem ?? "",
            LastHash = ByteString.CopyFrom(result.LastHash),
            HeadSequence = headSequence,
            HeadHash = ByteString.CopyFrom(headHash),
        };

        // A cut tail leaves a shorter chain than the head the store kept (unless the head was cut too: checkpoints catch that).
        var atHead = headSequence == 0 ? AuditChain.GenesisHash : result.HashesAt.GetValueOrDefault(headSequence);
        if (result.Intact && (atHead is null || !atHead.AsSpan().SequenceEqual(headHash)))
        {
            (response.Intact, response.Problem, response.FirstBadSequence) = (false, "head", Math.Min(headSequence, result.Entries) + 1);
        }

        // Billing is recounted from what the chain signed: a usage row changed in the database no longer matches.
        response.UsageChecked = result.Intact && result.SignaturesWithoutLevel == 0;
        (response.SignaturesWithLevel, response.SignaturesWithoutLevel) = (result.SignaturesWithLevel, result.SignaturesWithoutLevel);
        if (response.UsageChecked)
        {
            var tenant = context.Caller().Tenant;
            var billed = (await usage.GetUsageAsync(tenant, null, context.CancellationToken)).ToDictionary(u => (u.Month, u.Level.ToString()), u => u.Signatures);
            var counted = result.Usage.Where(u => u.Key.Tenant == tenant).ToDictionary(u => (u.Key.Month, u.Key.Level), u => u.Value);
            foreach (var key in billed.Keys.Union(counted.Keys).Order())
            {
                if (billed.GetValueOrDefault(key) != counted.GetValueOrDefault(key))
                {
                    response.UsageDifferences.Add($"{key.Item1} {key.Item2.ToUpperInvariant()}: billed {billed.GetValueOrDefault(key)}, the chain has {counted.GetValueOrDefault(key)}");
                }
            }
        }

        foreach (var size in request.CheckpointSizes.Distinct())
        {
            if (result.HashesAt.TryGetValue(size, out var hash))
            {
                response.HashesAt[size] = ByteString.CopyFrom(hash);
            }
        }

        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.AuditCheckpoint> CreateAuditCheckpoint(V1.CreateAuditCheckpointRequest request, ServerCallContext context)
    {
        var (note, size) = (await checkpoints.CreateAsync(onlyIfGrown: false, context.CancellationToken))!.Value;
        return new V1.AuditCheckpoint { Note = note, Size = size };
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.ListAuditEntriesResponse> ListAuditEntries(V1.ListAuditEntriesRequest request, ServerCallContext context)
    {
        var size = request.PageSize is <= 0 or > 500 ? 500 : request.PageSize;
        var entries = await auditLog.ListEntriesAsync(
            context.Caller().Tenant,
            string.IsNullOrEmpty(request.CredentialId) ? null : request.CredentialId,
            string.IsNullOrEmpty(request.Action) ? null : request.Action,
            Math.Max(0, request.AfterSequence),
            size,
            context.CancellationToken);
        var response = new V1.ListAuditEntriesResponse();
        response.Entries.AddRange(entries.Select(ToProto));
        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.AuditInclusionProof> ProveAuditEntry(V1.ProveAuditEntryRequest request, ServerCallContext context)
    {
        var caller = context.Caller();
        var (entry, path, root) = await proofs.ProveAsync(caller, request.Sequence, request.TreeSize, context.CancellationToken);
        var proof = new V1.AuditInclusionProof
        {
            Entry = ToProto(entry),
            Tenant = entry.Event.Tenant,
            TreeSize = request.TreeSize,
            Root = Google.Protobuf.ByteString.CopyFrom(root),
        };
        proof.Path.AddRange(path.Select(Google.Protobuf.ByteString.CopyFrom));
        return proof;
    }

    private static V1.AuditEntry ToProto(AuditEntry e) => new()
    {
        Sequence = e.Sequence,
        Time = Timestamp.FromDateTimeOffset(e.Event.Time),
        Actor = e.Event.Actor,
        CredentialId = e.Event.CredentialId ?? "",
        Action = e.Event.Action,
        Outcome = e.Event.Outcome,
        DetailsJson = e.Event.Details ?? "",
        PreviousHash = Google.Protobuf.ByteString.CopyFrom(e.PreviousHash),
        Hash = Google.Protobuf.ByteString.CopyFrom(e.Hash),
    };

    [AllowRoles(CallerRole.Operator, CallerRole.Partner)]
    public override async Task<V1.GetUsageResponse> GetUsage(V1.GetUsageRequest request, ServerCallContext context)
    {
        var month = string.IsNullOrEmpty(request.Month) ? null : request.Month;
        if (month is not null && !System.Text.RegularExpressions.Regex.IsMatch(month, "^[0-9]{4}-(0[1-9]|1[0-2])$"))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "month must be YYYY-MM");
        }

        var response = new V1.GetUsageResponse();
        foreach (var row in await usage.GetUsageAsync(context.Caller().Tenant, month, context.CancellationToken))
        {
            response.Rows.Add(new V1.UsageRow { Month = row.Month, Level = ProtoMapping.ToProto(row.Level), Signatures = row.Signatures });
        }

        return response;
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Organisation> UpsertOrganisation(V1.UpsertOrganisationRequest request, ServerCallContext context)
    {
        var caller = context.Caller();
        return ProtoMapping.ToProto(await seals.UpsertOrganisationAsync(
            caller, ProtoMapping.FromProto(request.Organisation, caller.Tenant), request.ConfirmationCode, context.CancellationToken));
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Organisation> GetOrganisation(V1.GetOrganisationRequest request, ServerCallContext context) =>
        ProtoMapping.ToProto(await seals.GetOrganisationAsync(context.Caller(), request.OrganisationId, context.CancellationToken));

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Credential> EnrollSeal(V1.EnrollSealRequest request, ServerCallContext context)
    {
        var level = ProtoMapping.ToLevel(request.Level);
        var algorithm = ProtoMapping.ToAlgorithm(request.KeyAlgorithm);
        return ToProto(await seals.EnrollSealAsync(
            context.Caller(), request.OrganisationId, level, algorithm, [.. request.CallerIds], request.ConfirmationCode, context.CancellationToken));
    }

    [AllowRoles(CallerRole.Operator)]
    public override async Task<V1.Credential> SetSealCallers(V1.SetSealCallersRequest request, ServerCallContext context) =>
        ToProto(await seals.SetSealCallersAsync(
            context.Caller(), request.CredentialId, [.. request.CallerIds], request.ConfirmationCode, context.CancellationToken));

    private V1.Credential ToProto(CredentialRecord credential) => ProtoMapping.ToProto(credential, ca.Chain(credential.Level));
}
