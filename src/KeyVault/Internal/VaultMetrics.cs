using System.Diagnostics.Metrics;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// The session pools as System.Diagnostics.Metrics instruments, one series per key domain: the host exports them
/// (Prometheus) without this trust boundary depending on an exporter. Every instrument is observable, read only when
/// a listener collects, so leasing a session pays nothing for it beyond the pool's own counters. Tags carry the
/// domain name and nothing else: never a token label, slot or PIN.
/// </summary>
internal sealed class VaultMetrics : IDisposable
{
    private readonly (KeyValuePair<string, object?> Tag, SessionPool Pool)[] _pools;

    public VaultMetrics(IEnumerable<KeyDomain> domains)
    {
        _pools = [.. domains.Select(d => (new KeyValuePair<string, object?>("domain", d.Name), d.Pool))];
        Meter = new Meter(HsmVault.MeterName);
        Meter.CreateObservableGauge(
            "sessions.in_use", () => Observe(p => p.InUse), "{session}", "HSM sessions leased right now");
        Meter.CreateObservableGauge(
            "sessions.capacity", () => Observe(p => p.Size), "{session}", "HSM sessions in the domain's pool");
        Meter.CreateObservableCounter(
            "session.waits", () => Observe(p => p.Waits), "{lease}", "Leases that found every HSM session of the domain busy");
        Meter.CreateObservableCounter(
            "session.wait_seconds", () => Observe(p => p.WaitTime.TotalSeconds), "s", "Time leases spent waiting for an HSM session");
    }

    /// <summary>This vault's meter (one per vault, so tests can tell their vault's measurements from others').</summary>
    public Meter Meter { get; }

    public void Dispose() => Meter.Dispose();

    private Measurement<T>[] Observe<T>(Func<SessionPool, T> read)
        where T : struct
    {
        var measurements = new Measurement<T>[_pools.Length];
        for (var i = 0; i < _pools.Length; i++)
        {
            measurements[i] = new Measurement<T>(read(_pools[i].Pool), _pools[i].Tag);
        }

        return measurements;
    }
}
