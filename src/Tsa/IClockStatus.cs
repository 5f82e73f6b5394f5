namespace DTrust.Tsa;

/// <summary>Whether the host's clock is trusted right now (e.g. NTP/PTP synchronised within the accuracy).</summary>
public interface IClockStatus
{
    bool IsSynchronized { get; }
}

/// <summary>For hosts with no clock monitoring: the clock is always taken as synchronised.</summary>
public sealed class AlwaysSynchronizedClock : IClockStatus
{
    public static AlwaysSynchronizedClock Instance { get; } = new();

    public bool IsSynchronized => true;
}

/// <summary>A status a monitor (or a test) sets; starts synchronised.</summary>
public sealed class SettableClockStatus : IClockStatus
{
    private volatile bool _synchronized = true;

    public bool IsSynchronized
    {
        get => _synchronized;
        set => _synchronized = value;
    }
}
