using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DTrust.Testing;

/// <summary>
/// A real Sentinel set on loopback: one master, one replica and three sentinels (quorum 2, a master down after
/// 1 s), one password for all of them, for the fail-over tests. The server is given the sentinels and the service
/// name; StackExchange.Redis asks them for the master and follows a fail-over.
/// </summary>
public sealed class RedisSentinel : IAsyncDisposable
{
    public const string ServiceName = "dtrust";

    private readonly List<Process> _sentinels = [];
    private readonly List<string> _dirs = [];
    private RedisServer? _restarted;

    private RedisSentinel(RedisServer master, RedisServer replica)
    {
        Master = master;
        Replica = replica;
    }

    public RedisServer Master { get; }

    public RedisServer Replica { get; }

    public IReadOnlyList<int> SentinelPorts { get; private set; } = [];

    /// <summary>What the server is configured with: the sentinels and the service name.</summary>
    public string Configuration => string.Join(',', SentinelPorts.Select(p => $"127.0.0.1:{p}")) + ",serviceName=" + ServiceName;

    public string PasswordFile => Master.PasswordFile;

    public static async Task<RedisSentinel> StartAsync()
    {
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var master = await RedisServer.StartReplicationNodeAsync(password);
        var replica = await RedisServer.StartReplicationNodeAsync(password, master.Port);
        var set = new RedisSentinel(master, replica);
        try
        {
            var ports = new List<int>();
            for (var i = 0; i < 3; i++)
            {
                ports.Add(set.StartSentinel(password, master.Port));
            }

            set.SentinelPorts = ports;
            foreach (var port in ports)
            {
                await WaitForPortAsync(port);
            }

            // The replica in sync, and every sentinel knowing the replica and the other two, before a test relies on it.
            await WaitUntilAsync(async () => (await RedisCluster.CliAsync(replica, ["info", "replication"])).StdOut
                .Contains("master_link_status:up", StringComparison.Ordinal), "the replica to sync");
            await WaitUntilAsync(async () =>
            {
                foreach (var port in ports)
                {
                    var info = (await SentinelCliAsync(port, password, ["info", "sentinel"])).StdOut;
                    if (!info.Contains("slaves=1,sentinels=3", StringComparison.Ordinal))
                    {
                        return false;
                    }
                }

                return true;
            }, "the sentinels to know the replica and each other");
            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts the (stopped) first master again on its port; the sentinels turn it into the new master's replica.
    /// </summary>
    public async Task RestartOldMasterAsync()
    {
        _restarted = await RedisServer.RestartReplicationNodeAsync(Master);
        await WaitUntilAsync(async () => (await RedisCluster.CliAsync(_restarted, ["info", "replication"])).StdOut
            .Contains("master_link_status:up", StringComparison.Ordinal), "the old master to rejoin as a replica");
    }

    /// <summary>The port of the master the sentinels name now.</summary>
    public async Task<int> CurrentMasterPortAsync()
    {
        var reply = (await SentinelCliAsync(SentinelPorts[0], Master.Password, ["sentinel", "get-master-addr-by-name", ServiceName]))
            .EnsureSuccess("sentinel get-master-addr-by-name").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return int.Parse(reply[^1], CultureInfo.InvariantCulture);
    }

    private static Task<ProcessRunner.Result> SentinelCliAsync(int port, string password, IEnumerable<string> args) =>
        ProcessRunner.RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), .. args],
            new Dictionary<string, string> { ["REDISCLI_AUTH"] = password });

    private int StartSentinel(string password, int masterPort)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the fixtures drive Debian's redis-server");
        }

        var dir = Path.Combine(Path.GetTempPath(), "dtrust-sentinel-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        _dirs.Add(dir);
        var port = RedisServer.FreePort();

        // Sentinels rewrite their own configuration file: it lives in their directory, 0600 (it holds the password).
        var config = Path.Combine(dir, "sentinel.conf");
        using (var f = new FileStream(config, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            f.Write(System.Text.Encoding.UTF8.GetBytes(
                $"port {port}\nbind 127.0.0.1\ndir {dir}\nrequirepass {password}\nsentinel sentinel-pass {password}\n" +
                $"sentinel monitor {ServiceName} 127.0.0.1 {masterPort} 2\nsentinel auth-pass {ServiceName} {password}\n" +
                $"sentinel down-after-milliseconds {ServiceName} 1000\nsentinel failover-timeout {ServiceName} 5000\n" +
                $"sentinel parallel-syncs {ServiceName} 1\n"));
        }

        var psi = new ProcessStartInfo(ProcessRunner.RequireTool("redis-server"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(config);
        psi.ArgumentList.Add("--sentinel");
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start redis-server --sentinel");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _sentinels.Add(p);
        return port;
    }

    private static async Task WaitForPortAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("timed out waiting for " + what);
            }

            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _sentinels)
        {
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }

            p.Dispose();
        }

        await Replica.DisposeAsync();
        if (_restarted is not null)
        {
            await _restarted.DisposeAsync();
        }
        else
        {
            await Master.DisposeAsync();
        }
        foreach (var dir in _dirs)
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
