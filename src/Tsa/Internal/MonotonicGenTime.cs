namespace DTrust.Tsa.Internal;

/// <summary>
/// genTime source: the TimeProvider truncated to microseconds, never earlier than the previous token from this
/// process while the clock steps back by less than the declared accuracy (the clamped time is still within it).
/// A larger backward step cannot be hidden without lying about the time, so it is reported and followed.
/// </summary>
internal sealed class MonotonicGenTime(TimeProvider time, TimeSpan accuracy)
{
    private long _lastTicks;

    /// <summary>Next genTime; <paramref name="steppedBack"/> is set when the clock moved back beyond the accuracy.</summary>
    public DateTimeOffset Next(out bool steppedBack)
    {
        var now = time.GetUtcNow().UtcTicks;
        now -= now % TimeSpan.TicksPerMicrosecond;
        steppedBack = false;
        while (true)
        {
            var last = Interlocked.Read(ref _lastTicks);
            var next = now;
            if (now < last)
            {
                if (last - now <= accuracy.Ticks)
                {
                    next = last;
                }
                else
                {
                    steppedBack = true;
                }
            }

            if (Interlocked.CompareExchange(ref _lastTicks, next, last) == last)
            {
                return new DateTimeOffset(next, TimeSpan.Zero);
            }
        }
    }
}
