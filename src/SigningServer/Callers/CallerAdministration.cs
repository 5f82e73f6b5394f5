using DTrust.SigningServer.Credentials;
using DTrust.Store;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// Registering and revoking API callers of a tenant, for every front end. Operators register partners only:
/// unlocks and phone changes accept a second operator in place of the holder, so if an operator key could mint
/// operator keys, one key would be both pairs of eyes. Operators are registered on the host (add-caller).
/// </summary>
public sealed class CallerAdministration(
    ICallerStore callers, CallerDirectory directory, AuditTrail audit, Hosting.ServerOptions server, TimeProvider time)
{
    public const int MaxNameLength = 64;

    /// <summary>The new caller and its API key, shown this once and stored only as a hash.</summary>
    public async Task<(CallerRecord Caller, string ApiKey)> CreateAsync(
        CallerRecord by, string name, CallerRole role, IReadOnlyList<string> returnUrls, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(returnUrls);
        if (returnUrls.Count > 10 || (returnUrls.Count > 0 && role != CallerRole.Partner))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "only partners have return URLs (at most 10)");
        }

        if (returnUrls.Select(u => Policy.SigningPolicy.ReturnUrlProblem(u, server.Development)).FirstOrDefault(p => p is not null) is { } bad)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, bad);
        }

        if (string.IsNullOrWhiteSpace(name) || name.Length > MaxNameLength)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "name is required (at most 64 characters)");
        }

        if (role == CallerRole.Operator)
        {
            throw new DTrustException(
                ErrorKind.PermissionDenied, "operators are registered on the server host (add-caller), not by another operator");
        }

        var key = ApiKeys.Generate();
        var created = new CallerRecord
        {
            Id = ApiKeys.NewId("caller"),
            Tenant = by.Tenant,
            Name = name,
            Role = role,
            CredentialHash = ApiKeys.Hash(key),
            CreatedAt = time.GetUtcNow(),
            ReturnUrls = returnUrls,
        };
        if (!await callers.InsertCallerAsync(created, ct))
        {
            throw new DTrustException(ErrorKind.Internal, "could not register the caller");
        }

        await audit.RecordAsync(
            by.Id, by.Tenant, null, "caller.created", details: new { caller = created.Id, role = created.Role.ToString(), return_urls = returnUrls }, ct: ct);
        return (created, key);
    }

    public Task<IReadOnlyList<CallerRecord>> ListAsync(CallerRecord by, CancellationToken ct) => callers.ListCallersAsync(by.Tenant, ct);

    /// <summary>Revokes a caller of the same tenant; this node forgets it at once, other nodes within the cache lifetime.</summary>
    public async Task<CallerRecord> RevokeAsync(CallerRecord by, string callerId, CancellationToken ct)
    {
        if (!await callers.RevokeCallerAsync(by.Tenant, callerId, time.GetUtcNow(), ct))
        {
            throw new DTrustException(ErrorKind.NotFound, "caller not found");
        }

        directory.Invalidate();
        await audit.RecordAsync(by.Id, by.Tenant, null, "caller.revoked", details: new { caller = callerId }, ct: ct);
        return (await callers.ListCallersAsync(by.Tenant, ct)).First(c => c.Id == callerId);
    }
}
