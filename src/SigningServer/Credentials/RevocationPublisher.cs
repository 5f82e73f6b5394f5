using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// Finishes revocations: for every credential in REVOCATION_IN_PROGRESS it publishes its CA's CRL (OCSP answers
/// revoked as soon as the revocation is recorded: the registry tells the responder on this node, this publisher on
/// the others within <see cref="Poll"/>), then marks it REVOKED and audits that. Woken at once by
/// <see cref="RevocationSignal"/>, and every few seconds in case another node started the revocation. A failure is
/// logged and retried on the next round; nothing is marked REVOKED before its CRL is out.
/// </summary>
internal sealed partial class RevocationPublisher(
    ICredentialStore store,
    ICertificateAuthority ca,
    AuditTrail audit,
    RevocationSignal signal,
    TimeProvider time,
    ILogger<RevocationPublisher> log) : BackgroundService
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PublishPendingAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                RoundFailed(log, e);
            }

            try
            {
                await signal.WaitAsync(Poll, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    internal async Task PublishPendingAsync(CancellationToken ct)
    {
        var pending = await store.ListRevocationsInProgressAsync(ct);
        if (pending.Count > 0)
        {
            // Another node may have started these: its OCSP answers changed at once, this node's change now.
            ca.RevocationRecorded();
        }

        foreach (var level in pending.Select(c => c.Level).Distinct())
        {
            await ca.PublishCrlAsync(level, ct);
        }

        foreach (var credential in pending)
        {
            var done = credential with
            {
                Status = CredentialStatus.Revoked,
                UpdatedAt = time.GetUtcNow(),
                Version = credential.Version + 1,
            };

            // A concurrent writer (another node finishing the same revocation) wins; this round then skips it.
            if (await store.UpdateCredentialAsync(done, credential.Version, ct))
            {
                await audit.RecordAsync(
                    AuditTrail.System, credential.Tenant, credential.Id, "credential.revoked",
                    details: new { serial = credential.SerialHex, reason = credential.RevocationReason }, ct: ct);
            }
        }
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Revocation round failed; retrying")]
    private static partial void RoundFailed(ILogger logger, Exception exception);
}
