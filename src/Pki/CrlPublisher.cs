using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using DTrust.Pki.Internal;

namespace DTrust.Pki;

/// <summary>
/// One CRL per issuing CA, signed in the HSM by the CA key. Published on demand (the revocation flow calls
/// <see cref="PublishAsync"/> once the store records the revocation) and by <see cref="CrlRefreshService"/> before
/// it ages. Every CRL goes into the store all nodes share (<see cref="ICrlStore"/>), and each node serves the latest
/// one there, looked up again at most <see cref="PkiOptions.CrlSyncSeconds"/> after the last look: after a
/// revocation on any node, every node serves the same CRL (same number, same bytes) within seconds. The one served is
/// kept in memory for <c>GET /crl/{level}.crl</c> (a store outage does not take CRLs down) and written to
/// <c>pki/crl-{level}.crl</c>.
/// </summary>
public sealed class CrlPublisher : IDisposable
{
    private readonly IssuingCas _cas;
    private readonly IRevocationSource _store;
    private readonly ICrlStore _crls;
    private readonly PkiOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<CrlPublisher> _log;
    private readonly string _dir;
    private readonly ConcurrentDictionary<CredentialLevel, PublishedCrl> _current = new();
    private readonly ConcurrentDictionary<CredentialLevel, DateTimeOffset> _synced = new();

    // One publication per level at a time: CRL numbers must increase in the order the CRLs are issued.
    private readonly Dictionary<CredentialLevel, SemaphoreSlim> _gates =
        PkiLevels.All.ToDictionary(l => l, _ => new SemaphoreSlim(1, 1));

    public CrlPublisher(
        IssuingCas cas, IRevocationSource store, ICrlStore crls, PkiSetup setup, PkiOptions options, TimeProvider time, ILogger<CrlPublisher> log)
    {
        _cas = cas;
        _store = store;
        _crls = crls;
        _options = options;
        _time = time;
        _log = log;
        _dir = setup.Directory;
    }

    /// <summary>
    /// Builds, signs, stores and returns (DER) a new CRL of <paramref name="level"/> from the store's revocations. If
    /// another node stored a CRL with that number (or a later one) first, its CRL may have been built from a list
    /// read before the revocation this call publishes: so this one is built again, from a fresh read, under the
    /// next number, rather than adopting the winner's.
    /// </summary>
    public async Task<byte[]> PublishAsync(CredentialLevel level, CancellationToken ct)
    {
        var gate = _gates[level];
        await gate.WaitAsync(ct);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var latest = await _crls.GetLatestCrlAsync(level, ct);
                var revoked = await _store.ListRevokedAsync(level, ct);
                var crl = Build(level, revoked, latest);
                if (await _crls.InsertCrlAsync(crl, ct))
                {
                    await AdoptAsync(crl, ct);
                    PkiLog.CrlPublished(_log, level, crl.Number, revoked.Count, crl.NextUpdate);
                    return crl.Der;
                }

                if (attempt == 4)
                {
                    throw new InvalidOperationException($"the store refused five {level} CRLs in a row (other nodes publishing); retry");
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    private PublishedCrl Build(CredentialLevel level, IReadOnlyList<RevokedCertificate> revoked, PublishedCrl? latest)
    {
        var ca = _cas[level];
        var thisUpdate = DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds());
        var nextUpdate = thisUpdate.AddHours(_options.CrlValidityHours);
        var number = NextNumber(level, latest, thisUpdate);
        var builder = new CertificateRevocationListBuilder();
        foreach (var entry in revoked)
        {
            builder.AddEntry(Convert.FromHexString(entry.SerialHex), entry.RevokedAt, Reason(entry.Reason));
        }

        using var caAlg = ca.Key.CreateAlgorithm();
        var der = builder.Build(
            ca.Certificate.SubjectName,
            CaSigning.Generator(caAlg),
            number,
            nextUpdate,
            CaSigning.Hash(ca.Key.Algorithm),
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false),
            thisUpdate);
        return new PublishedCrl(level, (long)number, thisUpdate, nextUpdate, der);
    }

    /// <summary>Serves <paramref name="crl"/> from now on (unless a later one is served already) and writes it out.</summary>
    private async Task AdoptAsync(PublishedCrl crl, CancellationToken ct)
    {
        _synced[crl.Level] = _time.GetUtcNow();
        if (_current.TryGetValue(crl.Level, out var served) && served.Number >= crl.Number)
        {
            return;
        }

        _current[crl.Level] = crl;
        var name = PkiLevels.Name(crl.Level);
        Directory.CreateDirectory(_dir);
        await WriteAtomicallyAsync(Path.Combine(_dir, $"crl-{name}.crl"), crl.Der, ct);
        await WriteAtomicallyAsync(
            Path.Combine(_dir, $"crl-{name}.number"), System.Text.Encoding.ASCII.GetBytes(crl.Number.ToString(CultureInfo.InvariantCulture)), ct);
    }

    /// <summary>
    /// Looks at the store's latest CRL of <paramref name="level"/> if the last look is older than the sync interval,
    /// and serves it if it is newer than this node's. A store that does not answer leaves the CRL served as it is.
    /// </summary>
    private async Task SyncAsync(CredentialLevel level, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (_synced.TryGetValue(level, out var last) && now - last < TimeSpan.FromSeconds(_options.CrlSyncSeconds))
        {
            return;
        }

        _synced[level] = now;
        try
        {
            if (await _crls.GetLatestCrlAsync(level, ct) is { } latest)
            {
                await AdoptAsync(latest, ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException && _current.ContainsKey(level))
        {
            PkiLog.CrlSyncFailed(_log, level, e);
        }
    }

    /// <summary>
    /// The CRL to serve: the store's latest (looked at every few seconds), while it is before its nextUpdate (a
    /// store outage does not take CRLs down), otherwise a fresh one.
    /// </summary>
    public async Task<byte[]> GetCurrentAsync(CredentialLevel level, CancellationToken ct)
    {
        await SyncAsync(level, ct);
        return _current.TryGetValue(level, out var crl) && _time.GetUtcNow() < crl.NextUpdate
            ? crl.Der
            : await PublishAsync(level, ct);
    }

    /// <summary>Re-publishes every level whose CRL is older than the refresh interval (or missing).</summary>
    public async Task RefreshDueAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        foreach (var level in PkiLevels.All)
        {
            // Another node may have published since: its CRL counts as this node's refresh.
            await SyncAsync(level, ct);
            if (_current.TryGetValue(level, out var crl) && now - crl.ThisUpdate < TimeSpan.FromMinutes(_options.CrlRefreshMinutes))
            {
                continue;
            }

            try
            {
                await PublishAsync(level, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The previous CRL is valid for hours beyond the refresh interval: log and retry on the next tick.
                PkiLog.CrlPublishFailed(_log, level, e);
            }
        }
    }

    public void Dispose()
    {
        foreach (var gate in _gates.Values)
        {
            gate.Dispose();
        }
    }

    /// <summary>
    /// At least the last number (the store's, this node's, or the file's) plus one, and at least the Unix time in
    /// seconds: numbers keep increasing across restarts, a lost state directory or store, and several nodes.
    /// </summary>
    private BigInteger NextNumber(CredentialLevel level, PublishedCrl? latest, DateTimeOffset now)
    {
        BigInteger last = latest?.Number ?? 0;
        if (_current.TryGetValue(level, out var crl))
        {
            last = BigInteger.Max(last, crl.Number);
        }
        else if (File.Exists(Path.Combine(_dir, $"crl-{PkiLevels.Name(level)}.number"))
                 && BigInteger.TryParse(File.ReadAllText(Path.Combine(_dir, $"crl-{PkiLevels.Name(level)}.number")).Trim(), CultureInfo.InvariantCulture, out var stored))
        {
            last = BigInteger.Max(last, stored);
        }

        return BigInteger.Max(last + 1, now.ToUnixTimeSeconds());
    }

    /// <summary>
    /// RFC 5280 §5.3.1: unspecified (0) is expressed by leaving the reason out; removeFromCRL (8) belongs to delta
    /// CRLs only; unknown codes are left out too rather than failing the whole CRL.
    /// </summary>
    private static X509RevocationReason? Reason(int code) =>
        code is >= 1 and <= 10 and not 7 and not 8 ? (X509RevocationReason)code : null;

    /// <summary>A reader of the file (a web server publishing the directory) never sees half a CRL.</summary>
    private static async Task WriteAtomicallyAsync(string path, byte[] data, CancellationToken ct)
    {
        var temp = path + ".tmp";
        await File.WriteAllBytesAsync(temp, data, ct);
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>Publishes every level's CRL at start and re-publishes each before it ages (see <see cref="PkiOptions.CrlRefreshMinutes"/>).</summary>
internal sealed class CrlRefreshService(CrlPublisher publisher, PkiOptions options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Check often compared with the refresh interval, so a failed publication is retried soon.
        var tick = TimeSpan.FromMinutes(Math.Clamp(options.CrlRefreshMinutes / 4.0, 1, 15));
        using var timer = new PeriodicTimer(tick, time);
        try
        {
            do
            {
                await publisher.RefreshDueAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
