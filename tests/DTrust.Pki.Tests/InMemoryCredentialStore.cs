using System.Collections.Concurrent;
using DTrust.SigningServer.Store;

namespace DTrust.Pki.Tests;

/// <summary>
/// The credential part of <see cref="ICredentialStore"/> the PKI reads (revocations, lookup by serial), in memory.
/// The real engines pass their own contract suite; this one only has to be obviously right.
/// </summary>
internal sealed class InMemoryCredentialStore : ICredentialStore
{
    private readonly ConcurrentDictionary<string, CredentialRecord> _credentials = new();

    public void Put(CredentialRecord credential) => _credentials[credential.Id] = credential;

    public Task InsertCredentialAsync(CredentialRecord credential, CancellationToken ct)
    {
        Put(credential);
        return Task.CompletedTask;
    }

    public Task<CredentialRecord?> GetCredentialAsync(string tenant, string credentialId, CancellationToken ct) =>
        Task.FromResult(_credentials.TryGetValue(credentialId, out var c) && c.Tenant == tenant ? c : null);

    public Task<bool> UpdateCredentialAsync(CredentialRecord credential, long expectedVersion, CancellationToken ct)
    {
        Put(credential);
        return Task.FromResult(true);
    }

    public Task<IReadOnlyList<CredentialRecord>> ListRevocationsInProgressAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<CredentialRecord>>(
            [.. _credentials.Values.Where(c => c.Status == CredentialStatus.RevocationInProgress)]);

    public Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CredentialLevel level, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<RevokedCertificate>>(
        [
            .. _credentials.Values
                .Where(c => c.Level == level && c.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked)
                .Select(c => new RevokedCertificate(c.SerialHex, c.RevokedAt ?? c.UpdatedAt, c.RevocationReason ?? 0)),
        ]);

    public Task<CredentialRecord?> FindBySerialAsync(CredentialLevel level, string serialHex, CancellationToken ct) =>
        Task.FromResult(_credentials.Values.FirstOrDefault(c => c.Level == level && c.SerialHex == serialHex));

    public Task<UserRecord?> GetUserAsync(string tenant, string userId, CancellationToken ct) => throw new NotSupportedException();

    public Task<bool> InsertUserAsync(UserRecord user, CancellationToken ct) => throw new NotSupportedException();

    public Task<bool> UpdateUserAsync(UserRecord user, long expectedVersion, CancellationToken ct) => throw new NotSupportedException();

    public Task<IReadOnlyList<CredentialRecord>> ListCredentialsAsync(
        string tenant, string? userId, bool onlyValid, string? afterId, int limit, CancellationToken ct) =>
        throw new NotSupportedException();

    public Task<(int FailedPins, CredentialStatus Status)?> TakePinAttemptAsync(
        string tenant, string credentialId, CredentialStatus expected, int limit, DateTimeOffset now, CancellationToken ct) =>
        throw new NotSupportedException();

    public Task ReturnPinAttemptAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct) =>
        throw new NotSupportedException();

    public Task ResetWrongPinsAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct) =>
        throw new NotSupportedException();
}

/// <summary><see cref="ICrlStore"/> in memory, with the same rule as the real stores: numbers only increase per level.</summary>
internal sealed class InMemoryCrlStore : ICrlStore
{
    private readonly Dictionary<CredentialLevel, PublishedCrl> _latest = [];

    public Task<PublishedCrl?> GetLatestCrlAsync(CredentialLevel level, CancellationToken ct)
    {
        lock (_latest)
        {
            return Task.FromResult(_latest.GetValueOrDefault(level));
        }
    }

    public Task<bool> InsertCrlAsync(PublishedCrl crl, CancellationToken ct)
    {
        lock (_latest)
        {
            if (_latest.TryGetValue(crl.Level, out var last) && last.Number >= crl.Number)
            {
                return Task.FromResult(false);
            }

            _latest[crl.Level] = crl;
            return Task.FromResult(true);
        }
    }
}
