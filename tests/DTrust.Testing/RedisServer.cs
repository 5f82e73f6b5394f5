using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DTrust.Testing;

/// <summary>
/// A real redis-server on a free loopback port with its own temporary directory and a generated password
/// (requirepass, as <c>make run</c> sets it up); disposed, it is stopped.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port, string dir, string password)
    {
        _process = process;
        Port = port;
        Directory = dir;
        Password = password;
    }

    public int Port { get; }

    /// <summary>The redis-server process (chaos tests hang it with SIGSTOP).</summary>
    public int ProcessId => _process.Id;

    public string Directory { get; }

    public string Password { get; }

    /// <summary>The password in a 0600 file, as the server reads it (DTrust:Redis:PasswordFile).</summary>
    public string PasswordFile => Path.Combine(Directory, "password");

    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>A StackExchange.Redis configuration string that authenticates.</summary>
    public string AuthenticatedConfiguration => $"127.0.0.1:{Port},password={Password}";

    /// <summary>Starts a Redis; with <paramref name="reuse"/> it restarts on that one's port, directory and password.</summary>
    public static Task<RedisServer> StartAsync(RedisServer? reuse = null) =>
        StartCoreAsync(reuse?.Directory, reuse?.Port, reuse?.Password, "");

    /// <summary>A node for a Redis Cluster: cluster mode on, the cluster's one password (also to authenticate to its peers).</summary>
    public static Task<RedisServer> StartClusterNodeAsync(string password) =>
        StartCoreAsync(null, null, password, $"cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 2000\nmasterauth {password}\n");

    /// <summary>
    /// A node of a replicated set (Sentinel): the set's one password, also to authenticate to a master; with
    /// <paramref name="replicaOf"/> it starts as that port's replica.
    /// </summary>
    public static Task<RedisServer> StartReplicationNodeAsync(string password, int? replicaOf = null) =>
        StartCoreAsync(null, null, password, $"masterauth {password}\n" + (replicaOf is { } master ? $"replicaof 127.0.0.1 {master}\n" : ""));

    /// <summary>Brings a stopped node of a replicated set back on its port and directory (Sentinel makes it a replica).</summary>
    public static Task<RedisServer> RestartReplicationNodeAsync(RedisServer stopped) =>
        StartCoreAsync(stopped.Directory, stopped.Port, stopped.Password, $"masterauth {stopped.Password}\n");

    private static async Task<RedisServer> StartCoreAsync(string? directory, int? fixedPort, string? fixedPassword, string extraConfig)
    {
        var exe = ProcessRunner.RequireTool("redis-server");
        var dir = directory ?? Path.Combine(Path.GetTempPath(), "dtrust-redis-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(dir);
        var port = fixedPort ?? FreePort();
        var password = fixedPassword ?? Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

        // The password goes into 0600 files, never onto a command line another local user could read.
        var config = Path.Combine(dir, "redis.conf");
        WritePrivate(config, $"port {port}\nbind 127.0.0.1\ndir {dir}\nappendonly yes\nsave \"\"\nrequirepass {password}\n{extraConfig}");
        WritePrivate(Path.Combine(dir, "password"), password);
        var psi = new ProcessStartInfo(exe)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(config);

        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start redis-server");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return new RedisServer(p, port, dir, password);
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        p.Kill();
        await p.WaitForExitAsync();
        p.Dispose();
        System.IO.Directory.Delete(dir, recursive: true);
        throw new InvalidOperationException("redis-server did not start on port " + port);
    }

    private static void WritePrivate(string path, string content)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the fixtures drive Debian's redis-server");
        }

        using var f = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        f.Write(System.Text.Encoding.UTF8.GetBytes(content));
    }

    /// <summary>Stops the process but keeps its directory, so <see cref="StartAsync(RedisServer?)"/> can bring it back.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder harms nothing.
        }
    }
}
