using System.Runtime.InteropServices;
using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>
/// Asks the Linux kernel whether the system clock is synchronised (adjtimex(2) in read-only mode). The kernel
/// answers TIME_ERROR while STA_UNSYNC is set, i.e. no NTP/PTP daemon disciplines the clock; the TSA must then
/// answer timeNotAvailable rather than vouch for a time it cannot trace (ETSI EN 319 421).
/// </summary>
internal sealed partial class KernelClockStatus(TimeProvider time) : IClockStatus
{
    private const int TimeError = 5;

    // struct timex is 208 bytes on linux-x64; zeroed, its modes field (the first) asks for nothing to change.
    private const int TimexSize = 512;

    private long _checkedAt = long.MinValue;
    private volatile bool _synchronized;

    public bool IsSynchronized
    {
        get
        {
            // One syscall a second is plenty: synchronisation state changes on a scale of minutes.
            var now = time.GetTimestamp();
            if (time.GetElapsedTime(Interlocked.Read(ref _checkedAt), now) > TimeSpan.FromSeconds(1) || _checkedAt == long.MinValue)
            {
                Span<byte> timex = stackalloc byte[TimexSize];
                timex.Clear();
                _synchronized = AdjTimex(timex) is >= 0 and not TimeError;
                Interlocked.Exchange(ref _checkedAt, now);
            }

            return _synchronized;
        }
    }

    [LibraryImport("libc", EntryPoint = "adjtimex")]
    private static partial int AdjTimex(Span<byte> timex);
}
