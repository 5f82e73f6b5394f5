using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DTrust.Testing;

/// <summary>
/// The real server host as a child process: its own state directory with SoftHSM tokens made by the same script
/// as <c>make run</c>, a real Redis on a free port, free loopback ports for gRPC and HTTP. Disposed, all stop.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> StateByGrpcPort = new();

    private bool _ownsState = true;
    private bool _ownsRedis = true;

    private IDictionary<string, string?> _environment = new Dictionary<string, string?>();

    private ServerProcess(Process process, StringBuilder log, string stateDir, int grpcPort, int httpPort, int adminPort, RedisServer redis, int holderPort)
    {
        HolderPort = holderPort;
        AdminPort = adminPort;
        _process = process;
        _log = log;
        StateDir = stateDir;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
        Redis = redis;
    }

    public static readonly string[] TokenLabels = ["simple", "advanced", "qualified", "seal-qualified", "seal-advanced", "tsa", "audit", "root"];

    public string StateDir { get; }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public RedisServer Redis { get; }

    /// <summary>The admin listener (loopback, plain HTTP/1.1): <c>/metrics</c>.</summary>
    public int AdminPort { get; }

    public Uri AdminAddress => new($"http://127.0.0.1:{AdminPort}");

    /// <summary>The holder's pages (approval, pairing), on <c>localhost</c>: WebAuthn refuses 127.0.0.1 as an RP ID.</summary>
    public int HolderPort { get; }

    public Uri HolderAddress => new($"http://localhost:{HolderPort}");

    /// <summary>The CSC API listener (plain HTTP/1.1 on loopback in development).</summary>
    public int CscPort { get; private init; }

    public Uri CscAddress => new($"http://127.0.0.1:{CscPort}");

    public Uri GrpcAddress => new($"http://127.0.0.1:{GrpcPort}");

    public Uri HttpAddress => new($"{(HttpTls ? "https" : "http")}://127.0.0.1:{HttpPort}");

    /// <summary>The HTTP listener speaks TLS (DTrust__Listen__HttpTls); health is then polled over https.</summary>
    public bool HttpTls { get; private init; }

    public string Pki(string name) => Path.Combine(StateDir, "pki", name);

    public bool HasExited => _process.HasExited;

    /// <summary>The host's process id (the load generator reads its peak RSS from /proc).</summary>
    public int ProcessId => _process.Id;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Starts a server. With <paramref name="stateDir"/> it reuses (and leaves behind) that state directory, as a
    /// second <c>make run</c> would; otherwise it makes a fresh one and deletes it when disposed.
    /// </summary>
    /// <summary>
    /// Production settings for a state directory a development start prepared: its tokens, keys and callers stay,
    /// and the certificates the development PKI issued are configured as if certified elsewhere (copied out of
    /// <c>pki/</c>, which the server rewrites). One-time codes would go to an SMS gateway that is never reached.
    /// </summary>
    public static Dictionary<string, string> ProductionEnvironment(string stateDir)
    {
        var pki = Path.Combine(stateDir, "pki");
        var configured = Directory.CreateDirectory(Path.Combine(stateDir, "configured-pki")).FullName;
        string Copy(string name)
        {
            var target = Path.Combine(configured, name);
            File.Copy(Path.Combine(pki, name), target, overwrite: true);
            return target;
        }

        var env = new Dictionary<string, string>
        {
            ["DTrust__Development"] = "false",
            ["DTrust__Tsa__CertificatePath"] = Copy("tsa.pem"),
            ["DTrust__Tsa__ChainPath"] = Copy("chain.pem"),
            ["DTrust__Signing__OtpSender"] = "webhook",
            ["DTrust__Signing__Webhook__Url"] = "https://sms-gateway.invalid/send",
        };
        foreach (var level in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced" })
        {
            env[$"DTrust__Pki__Levels__{level}__CaCertificatePath"] = Copy($"ca-{level}.pem");
            env[$"DTrust__Pki__Levels__{level}__OcspCertificatePath"] = Copy($"ocsp-{level}.pem");
            env[$"DTrust__Pki__Levels__{level}__ChainPath"] = Copy($"chain-{level}.pem");
        }

        return env;
    }

    /// <summary>
    /// The state directory of the server this suite started on <paramref name="grpcPort"/>: where a test finds what
    /// the server sent the holder (the development outbox) when all it has is a client.
    /// </summary>
    public static string StateDirOf(int grpcPort) =>
        StateByGrpcPort.TryGetValue(grpcPort, out var state) ? state : throw new InvalidOperationException($"no server of this suite on port {grpcPort}");

    /// <summary>
    /// Waits briefly for message <paramref name="id"/> in the development outbox of <paramref name="stateDir"/> and
    /// returns its code (a one-time code by challenge id, a transport PIN by <c>transport-pin:&lt;credential&gt;</c>).
    /// </summary>
    public static async Task<string> OutboxCodeAsync(string stateDir, string id) =>
        (await OutboxMessageAsync(stateDir, id, m => m.GetProperty("otp").GetString() is { Length: > 0 })).GetProperty("otp").GetString()!;

    /// <summary>The text of the latest message for <paramref name="id"/> that carries no code (a holder's approval link).</summary>
    public static async Task<string> OutboxTextAsync(string stateDir, string id) =>
        (await OutboxMessageAsync(stateDir, id, m => m.GetProperty("otp").GetString() is { Length: 0 })).GetProperty("text").GetString()!;

    /// <summary>
    /// The latest message of the development outbox for <paramref name="id"/> that <paramref name="wanted"/> accepts
    /// (the holder's page may send a new code: the latest one is the one that counts).
    /// </summary>
    public static async Task<System.Text.Json.JsonElement> OutboxMessageAsync(string stateDir, string id, Func<System.Text.Json.JsonElement, bool> wanted)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var path = Path.Combine(stateDir, "otp-outbox.jsonl");
        for (var i = 0; i < 100; i++)
        {
            if (File.Exists(path))
            {
                System.Text.Json.JsonElement? found = null;
                var text = await File.ReadAllTextAsync(path);

                // Whole lines only: the server may be appending the last one right now.
                foreach (var line in text[..(text.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    using var doc = System.Text.Json.JsonDocument.Parse(line);
                    if (doc.RootElement.GetProperty("challenge_id").GetString() == id && wanted(doc.RootElement))
                    {
                        found = doc.RootElement.Clone();
                    }
                }

                if (found is { } message)
                {
                    return message;
                }
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"no message {id} in the outbox {path}");
    }

    public static Task<ServerProcess> StartAsync(IDictionary<string, string>? extraEnv = null, string? stateDir = null) =>
        StartAsync(extraEnv, stateDir, redis: null);

    /// <summary>
    /// Starts a server on <paramref name="redis"/> when given (a second node of a cluster, or a Redis the test
    /// stops and restarts); that Redis stays the caller's to dispose. Without it the server gets a Redis of its own.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(IDictionary<string, string>? extraEnv, string? stateDir, RedisServer? redis)
    {
        // A free port found here can be taken by another test's process before the server binds it (seen in CI):
        // that start is retried on new ports; every other start-up failure is the test's result.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(extraEnv, stateDir, redis);
            }
            catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains("address already in use", StringComparison.Ordinal))
            {
            }
        }
    }

    private static async Task<ServerProcess> StartOnceAsync(IDictionary<string, string>? extraEnv, string? stateDir, RedisServer? redis)
    {
        var ownsState = stateDir is null;
        var ownsRedis = redis is null;
        var state = stateDir ?? Path.Combine(Path.GetTempPath(), "dtrust-server-" + Guid.NewGuid().ToString("N")[..12]);
        Process? p = null;
        try
        {
            var conf = (await ProcessRunner.RunAsync("bash", [RepoPaths.Script("softhsm-tokens.sh"), Path.Combine(state, "hsm"), .. TokenLabels]))
                .EnsureSuccess("softhsm-tokens.sh").StdOut.Trim();
            redis ??= await RedisServer.StartAsync();
            var grpcPort = RedisServer.FreePort();
            var httpPort = RedisServer.FreePort();
            var adminPort = RedisServer.FreePort();
            var holderPort = RedisServer.FreePort();
            var cscPort = RedisServer.FreePort();

            var psi = new ProcessStartInfo(ProcessRunner.RequireTool("dotnet"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            psi.ArgumentList.Add(ServerDll());
            psi.Environment["SOFTHSM2_CONF"] = conf;
            psi.Environment["DTrust__StateDirectory"] = state;
            psi.Environment["DTrust__Development"] = "true";
            psi.Environment["DTrust__Listen__Grpc"] = "127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture);
            psi.Environment["DTrust__Listen__Http"] = "127.0.0.1:" + httpPort.ToString(CultureInfo.InvariantCulture);
            psi.Environment["DTrust__Listen__Admin"] = "127.0.0.1:" + adminPort.ToString(CultureInfo.InvariantCulture);
            psi.Environment["DTrust__Listen__Holder"] = "localhost:" + holderPort.ToString(CultureInfo.InvariantCulture);
            psi.Environment["DTrust__Listen__Csc"] = "127.0.0.1:" + cscPort.ToString(CultureInfo.InvariantCulture);

            // Certificates name this server's own OCSP and CRL URLs, so that verifiers that follow them reach it.
            psi.Environment["DTrust__Pki__PublicBaseUrl"] = "http://127.0.0.1:" + httpPort.ToString(CultureInfo.InvariantCulture);

            // Most tests drive the explicit flow at every level; the holder-approval tests switch this off to
            // test the default (QUALIFIED only through the holder's page).
            psi.Environment["DTrust__Signing__ExplicitQualified"] = "true";
            psi.Environment["DTrust__Redis__Configuration"] = redis.Configuration;
            psi.Environment["DTrust__Redis__PasswordFile"] = redis.PasswordFile;
            foreach (var (k, v) in extraEnv ?? new Dictionary<string, string>())
            {
                psi.Environment[k] = v;
            }

            var log = new StringBuilder();
            p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the server");
            p.OutputDataReceived += (_, e) => Append(log, e.Data);
            p.ErrorDataReceived += (_, e) => Append(log, e.Data);
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            StateByGrpcPort[grpcPort] = state;
            var server = new ServerProcess(p, log, state, grpcPort, httpPort, adminPort, redis, holderPort)
            {
                _ownsState = ownsState,
                _ownsRedis = ownsRedis,
                _environment = psi.Environment,
                HttpTls = psi.Environment.TryGetValue("DTrust__Listen__HttpTls", out var tls) && tls == "true",
                CscPort = cscPort,
            };
            await server.WaitHealthyAsync(TimeSpan.FromSeconds(90));
            return server;
        }
        catch
        {
            // Nobody gets a handle to dispose: stop what was started, or a failed start leaves a server and a
            // redis-server running and the tokens on disk.
            if (p is { HasExited: false })
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }

            p?.Dispose();
            if (ownsRedis && redis is not null)
            {
                await redis.DisposeAsync();
            }

            if (ownsState)
            {
                DeleteState(state);
            }
            throw;
        }
    }

    /// <summary>The API key the server wrote for its dev caller (<c>operator</c> or <c>partner</c> of tenant dev).</summary>
    public string ApiKey(string role) => File.ReadAllText(Path.Combine(StateDir, "keys", role + ".key")).Trim();

    /// <summary>
    /// Registers a caller of another tenant through the host's own bootstrap command (what an operator runs to set
    /// up a tenant), with this server's configuration, and returns its API key.
    /// </summary>
    public async Task<string> AddCallerAsync(string tenant, string role = "operator")
    {
        var keyFile = Path.Combine(StateDir, "keys", $"{tenant}-{role}-{Guid.NewGuid():N}.key");
        var env = _environment.Where(e => e.Value is not null && (e.Key.StartsWith("DTrust__", StringComparison.Ordinal) || e.Key == "SOFTHSM2_CONF"))
            .ToDictionary(e => e.Key, e => e.Value!);
        var r = await ProcessRunner.RunAsync(
            ProcessRunner.RequireTool("dotnet"),
            [ServerDll(), "add-caller", "--tenant", tenant, "--role", role, "--name", tenant + "-" + role, "--key-file", keyFile],
            env);
        r.EnsureSuccess("add-caller");
        return File.ReadAllText(keyFile).Trim();
    }

    public Task<string> AddOperatorAsync(string tenant) => AddCallerAsync(tenant, "operator");

    /// <summary>The SoftHSM configuration of this server's tokens (made by softhsm-tokens.sh).</summary>
    public string HsmConfPath => Path.Combine(StateDir, "hsm", "softhsm2.conf");

    /// <summary>The PIN file of one of this server's tokens.</summary>
    public string HsmPinFile(string label) => Path.Combine(StateDir, "hsm", "pins", label + ".pin");

    /// <summary>
    /// Points SoftHSM in this (test) process at the server's tokens, for checks through an HsmVault of its own.
    /// SoftHSM reads SOFTHSM2_CONF once, when the module loads: a process can look at one server's tokens only.
    /// </summary>
    public void ExportHsmConfiguration() => NativeEnvironment.Export("SOFTHSM2_CONF", HsmConfPath);

    /// <summary>The SQLite store of this server (the default engine).</summary>
    public string SqlitePath => Path.Combine(StateDir, "dtrust.db");

    private static void Append(StringBuilder log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.AppendLine(line);
        }
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        // Start-up only asks whether the host answers; the TLS tests check the certificate themselves.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // HasExited can be true before the asynchronous readers have taken the last lines (the reason it
                // exited): WaitForExitAsync also waits for the end of both redirected streams. Seen empty in CI.
                await _process.WaitForExitAsync();
                throw new InvalidOperationException("server exited during start-up:\n" + Log);
            }

            try
            {
                using var r = await http.GetAsync(new Uri(HttpAddress, "/healthz"));
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

            await Task.Delay(200);
        }

        throw new TimeoutException("server not healthy in time:\n" + Log);
    }

    /// <summary>The host built in the same configuration as the tests (make test builds Release).</summary>
    private static string ServerDll()
    {
        var config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(RepoPaths.Root, "src", "SigningServer", "bin", config, "net10.0", "DTrust.SigningServer.dll");
        return File.Exists(dll) ? dll : throw new InvalidOperationException("server not built: " + dll);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        if (_ownsRedis)
        {
            await Redis.DisposeAsync();
        }

        if (_ownsState)
        {
            DeleteState(StateDir);
        }
    }

    private static void DeleteState(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
