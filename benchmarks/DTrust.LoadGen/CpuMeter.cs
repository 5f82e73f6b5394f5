using System.Diagnostics;
using System.Globalization;

namespace DTrust.LoadGen;

/// <summary>CPU seconds spent during a phase: by the server nodes, by this generator, and by the whole machine.</summary>
public sealed record CpuUse(double ServerSeconds, double GeneratorSeconds, double MachineSeconds)
{
    /// <summary>Everything else that ran: Redis, PostgreSQL, the kernel's network work, anything unrelated.</summary>
    public double OtherSeconds => Math.Max(0, MachineSeconds - ServerSeconds - GeneratorSeconds);
}

/// <summary>
/// Reads /proc at the start and end of a phase, so a result can say where one signature's CPU time went
/// (server, load generator, the rest of the box) — on a machine where all of them share the same two cores.
/// </summary>
public sealed class CpuMeter
{
    private static readonly double TicksPerSecond = 100; // USER_HZ of /proc/stat on Linux x86-64
    private readonly IReadOnlyList<int> _pids;
    private readonly TimeSpan _server;
    private readonly TimeSpan _generator;
    private readonly long _machine;

    public CpuMeter(IEnumerable<int> serverPids)
    {
        _pids = [.. serverPids];
        _server = ServerTime();
        _generator = Process.GetCurrentProcess().TotalProcessorTime;
        _machine = MachineBusyTicks();
    }

    public CpuUse Stop() => new(
        (ServerTime() - _server).TotalSeconds,
        (Process.GetCurrentProcess().TotalProcessorTime - _generator).TotalSeconds,
        (MachineBusyTicks() - _machine) / TicksPerSecond);

    private TimeSpan ServerTime() => _pids.Aggregate(TimeSpan.Zero, (sum, pid) => sum + ProcessTime(pid));

    private static TimeSpan ProcessTime(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.TotalProcessorTime;
        }
        catch (ArgumentException)
        {
            return TimeSpan.Zero; // the node has exited
        }
    }

    /// <summary>All CPUs' non-idle time from the first line of /proc/stat (idle and iowait excluded).</summary>
    private static long MachineBusyTicks()
    {
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = cpu.Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        return values.Sum() - values[3] - values[4];
    }
}
