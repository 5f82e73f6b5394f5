using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Pki.Internal;
using DTrust.SigningServer.Store;

namespace DTrust.SigningServer.Pki;

/// <summary>
/// One CRL per issuing CA, signed in the HSM by the CA key. Published on demand (the revocation flow calls
/// <see cref="PublishAsync"/> once the store records the revocation) and by <see cref="CrlRefreshService"/> before
/// it ages; the last one is kept in memory for <c>GET /crl/{level}.crl</c> and written to <c>pki/crl-{level}.crl</c>.
/// </summary>
public sealed class CrlPublisher : IDisposable
{
    private readonly IssuingCas _cas;
    private readonly ICredentialStore _store;
    private readonly PkiOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<CrlPublisher> _log;
    private readonly string _dir;
    private readonly ConcurrentDictionary<CredentialLevel, PublishedCrl> _current = new();

    // One publication per level at a time: CRL numbers must increase in the order the CRLs are issued.
    private readonly Dictionary<CredentialLevel, SemaphoreSlim> _gates =
        PkiLevels.All.ToDictionary(l => l, _ => new SemaphoreSlim(1, 1));

    public CrlPublisher(
        IssuingCas cas, ICredentialStore store, ServerOptions server, PkiOptions options, TimeProvider time, ILogger<CrlPublisher> log)
    {
        _cas = cas;
        _store = store;
        _options = options;
        _time = time;
        _log = log;
        _dir = Path.Combine(server.StateDirectory, "pki");
    }

    /// <summary>Builds, signs, stores and returns (DER) a new CRL of <paramref name="level"/> from the store's revocations.</summary>
    public async Task<byte[]> PublishAsync(CredentialLevel level, CancellationToken ct)
    {
        var ca = _cas[level];
        var gate = _gates[level];
        await gate.WaitAsync(ct);
        try
        {
            var revoked = await _store.ListRevokedAsync(level, ct);
            var thisUpdate = DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds());
            var nextUpdate = thisUpdate.AddHours(_options.CrlValidityHours);
            var number = NextNumber(level, thisUpdate);

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

            var name = PkiLevels.Name(level);
            Directory.CreateDirectory(_dir);
            await WriteAtomicallyAsync(Path.Combine(_dir, $"crl-{name}.crl"), der, ct);
            await WriteAtomicallyAsync(
                Path.Combine(_dir, $"crl-{name}.number"), System.Text.Encoding.ASCII.GetBytes(number.ToString(CultureInfo.InvariantCulture)), ct);
            _current[level] = new PublishedCrl(der, number, thisUpdate, nextUpdate);
            PkiLog.CrlPublished(_log, level, number, revoked.Count, nextUpdate);
            return der;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The CRL to serve: the last one while it is before its nextUpdate (a store outage does not take CRLs down),
    /// otherwise a fresh one.
    /// </summary>
    public async Task<byte[]> GetCurrentAsync(CredentialLevel level, CancellationToken ct) =>
        _current.TryGetValue(level, out var crl) && _time.GetUtcNow() < crl.NextUpdate
            ? crl.Der
            : await PublishAsync(level, ct);

    /// <summary>Re-publishes every level whose CRL is older than the refresh interval (or missing).</summary>
    public async Task RefreshDueAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        foreach (var level in PkiLevels.All)
        {
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
    /// At least the last number plus one, and at least the Unix time in seconds: numbers keep increasing across
    /// restarts, a lost state directory, and several nodes publishing (their clocks are synchronised).
    /// </summary>
    private BigInteger NextNumber(CredentialLevel level, DateTimeOffset now)
    {
        BigInteger last = 0;
        if (_current.TryGetValue(level, out var crl))
        {
            last = crl.Number;
        }
        else if (File.Exists(Path.Combine(_dir, $"crl-{PkiLevels.Name(level)}.number"))
                 && BigInteger.TryParse(File.ReadAllText(Path.Combine(_dir, $"crl-{PkiLevels.Name(level)}.number")).Trim(), CultureInfo.InvariantCulture, out var stored))
        {
            last = stored;
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

    private sealed record PublishedCrl(byte[] Der, BigInteger Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate);
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
