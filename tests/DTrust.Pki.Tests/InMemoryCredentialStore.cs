using System.Collections.Concurrent;
using DTrust.Store;

namespace DTrust.Pki.Tests;

/// <summary>
/// The PKI's port to the store (<see cref="IRevocationSource"/>: revocations, standing by serial), in memory.
/// The real engines pass their own contract suite; this one only has to be obviously right.
/// </summary>
internal sealed class InMemoryCredentialStore : IRevocationSource
{
    private readonly ConcurrentDictionary<string, CredentialRecord> _credentials = new();

    public void Put(CredentialRecord credential) => _credentials[credential.Id] = credential;

    public Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CredentialLevel level, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<RevokedCertificate>>(
        [
            .. _credentials.Values
                .Where(c => c.Level == level && c.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked)
                .Select(c => new RevokedCertificate(c.SerialHex, c.RevokedAt ?? c.UpdatedAt, c.RevocationReason ?? 0)),
        ]);

    public Task<SerialStanding> StandingAsync(CredentialLevel level, string serialHex, CancellationToken ct)
    {
        var c = _credentials.Values.FirstOrDefault(c => c.Level == level && c.SerialHex == serialHex);
        return Task.FromResult(c switch
        {
            null => SerialStanding.Unknown,
            { Status: CredentialStatus.RevocationInProgress or CredentialStatus.Revoked } =>
                new SerialStanding(true, new RevokedCertificate(c.SerialHex, c.RevokedAt ?? c.UpdatedAt, c.RevocationReason ?? 0)),
            _ => SerialStanding.Good,
        });
    }
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
