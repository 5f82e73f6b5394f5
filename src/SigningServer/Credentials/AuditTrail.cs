using System.Text.Json;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// Writes audit events: who (caller id), which tenant and credential, what, with which outcome. Each call returns
/// once the entry is durable. Details are non-secret facts only: never a PIN, OTP, API key or key material.
/// </summary>
public sealed class AuditTrail(IAuditLog log, TimeProvider time)
{
    public const string System = "system";

    public Task<AuditEntry> RecordAsync(
        string actor,
        string tenant,
        string? credentialId,
        string action,
        string outcome = "ok",
        object? details = null,
        (CredentialLevel Level, int Signatures)? usage = null,
        CancellationToken ct = default) =>
        log.AppendAsync(
            new AuditEvent
            {
                Time = time.GetUtcNow(),
                Actor = actor,
                Tenant = tenant,
                CredentialId = credentialId,
                Action = action,
                Outcome = outcome,
                Details = details is null ? null : JsonSerializer.Serialize(details),
                UsageLevel = usage?.Level,
                UsageCount = usage?.Signatures ?? 0,
            },
            ct);
}
