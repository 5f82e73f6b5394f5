namespace DTrust.Testing;

/// <summary>
/// A clock the test moves by hand, forwards and backwards. Not Microsoft.Extensions.TimeProvider.Testing's
/// FakeTimeProvider: that one refuses to go back in time, and the TSA tests step the clock back as NTP can.
/// </summary>
public sealed class FakeTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _utcTicks = start.UtcTicks;

    public DateTimeOffset Now => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan delta) => Interlocked.Add(ref _utcTicks, delta.Ticks);

    public void Set(DateTimeOffset value) => Interlocked.Exchange(ref _utcTicks, value.UtcTicks);
}
