using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// The quick start itself: scripts/run.sh (what <c>make run</c> calls) brings up tokens, Redis and the server in a
/// fresh state directory, serves the health check to python3-grpcio, stops everything on SIGINT (or SIGTERM), and a second run
/// reuses the tokens, PINs and certificates.
/// </summary>
public sealed class MakeRunTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "dtrust-makerun-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public async Task Run_serves_health_stops_cleanly_and_reuses_state()
    {
        var first = await RunOnceAsync();
        var second = await RunOnceAsync();

        Assert.Equal(first.RootPem, second.RootPem);
        Assert.Equal(first.TsaPin, second.TsaPin);
    }

    private async Task<(string RootPem, string TsaPin)> RunOnceAsync()
    {
        var grpc = RedisServer.FreePort();
        var http = RedisServer.FreePort();
        var redis = RedisServer.FreePort();
        var admin = RedisServer.FreePort();
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(RepoPaths.Script("run.sh"));
        psi.Environment["DTRUST_STATE_DIR"] = _state;
        psi.Environment["DTRUST_REDIS_PORT"] = redis.ToString(CultureInfo.InvariantCulture);
        psi.Environment["DTrust__Listen__Grpc"] = "127.0.0.1:" + grpc.ToString(CultureInfo.InvariantCulture);
        psi.Environment["DTrust__Listen__Http"] = "127.0.0.1:" + http.ToString(CultureInfo.InvariantCulture);
        // Not the default 5090: other servers of the suite run at the same time.
        psi.Environment["DTrust__Listen__Admin"] = "127.0.0.1:" + admin.ToString(CultureInfo.InvariantCulture);
        psi.Environment["DTrust__Listen__Holder"] = "localhost:" + RedisServer.FreePort().ToString(CultureInfo.InvariantCulture);
        var output = new System.Text.StringBuilder();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            await WaitForHealthAsync(http, p, output);
            var health = await ProcessRunner.RunAsync(
                "/usr/bin/python3",
                [Path.Combine(RepoPaths.Root, "tests", "DTrust.Server.Tests", "Peers", "health_check.py"), "127.0.0.1:" + grpc.ToString(CultureInfo.InvariantCulture)]);
            Assert.Equal("SERVING", health.StdOut.Trim());

            // Ctrl-C: the script's trap stops the server and the Redis it started. SIGINT only when this process
            // receives it itself: a suite started as a background job (`make test &`) inherits SIGINT ignored, and
            // bash cannot trap a signal ignored at its start; SIGTERM (docker stop, systemd) runs the same trap.
            var signal = SigIntIgnored() ? "-TERM" : "-INT";
            (await ProcessRunner.RunAsync("kill", [signal, p.Id.ToString(CultureInfo.InvariantCulture)])).EnsureSuccess("kill");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail("run.sh still running 30 s after Ctrl-C:\n" + Snapshot(output));
            }

            Assert.False(IsListening(grpc), "server still listening after Ctrl-C");
            Assert.False(IsListening(redis), "redis still running after Ctrl-C");
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }

        return (await File.ReadAllTextAsync(Path.Combine(_state, "pki", "root.pem")),
                await File.ReadAllTextAsync(Path.Combine(_state, "hsm", "pins", "tsa.pin")));
    }

    /// <summary>Whether this process ignores SIGINT (bit 2 of SigIgn in /proc/self/status), as its children will.</summary>
    private static bool SigIntIgnored()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x2) != 0;
    }

    private static string Snapshot(System.Text.StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static async Task WaitForHealthAsync(int port, Process p, System.Text.StringBuilder output)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(p.HasExited, "run.sh exited:\n" + output);
            try
            {
                using var r = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(250);
        }

        Assert.Fail("server from run.sh not healthy:\n" + output);
    }

    /// <summary>
    /// run.sh daemonises Redis, so killing the script's process tree after a failure misses it; Redis removes its
    /// pid file when it stops cleanly, so a pid file whose process still runs is one the trap did not stop.
    /// </summary>
    private void StopLeftoverRedis()
    {
        var pidFile = Path.Combine(_state, "redis", "redis.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
        {
            return;
        }

        try
        {
            using var redis = Process.GetProcessById(pid);
            if (redis.ProcessName == "redis-server")
            {
                redis.Kill();
                redis.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    private static bool IsListening(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        StopLeftoverRedis();
        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
