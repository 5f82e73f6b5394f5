using System.Globalization;
using DTrust.Client;
using DTrust.Testing;

namespace DTrust.LoadGen;

/// <summary>One signing node the load is sent to, and the process whose memory is watched.</summary>
public sealed record Node(Uri Address, int? ProcessId);

/// <summary>
/// The server under load: nodes that are already running (<c>--server</c>, with their state directory for the dev
/// keys and the OTP outbox), or nodes this tool starts itself from the Release build, as the tests do: one node on
/// SQLite, or several nodes on one Redis, one PostgreSQL and one token directory.
/// </summary>
public sealed class Target : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    private Target(IReadOnlyList<Node> nodes, string stateDir, int sessions, string store)
    {
        Nodes = nodes;
        StateDir = stateDir;
        Sessions = sessions;
        Store = store;
        Outbox = new OtpOutbox(Path.Combine(stateDir, "otp-outbox.jsonl"));
    }

    public IReadOnlyList<Node> Nodes { get; }

    public IEnumerable<int> ProcessIds => Nodes.Where(n => n.ProcessId is not null).Select(n => n.ProcessId!.Value);

    public string StateDir { get; }

    /// <summary>Logged-in PKCS#11 sessions per key domain on each node (the raw baselines use as many threads).</summary>
    public int Sessions { get; }

    public string Store { get; }

    public OtpOutbox Outbox { get; }

    public string ApiKey(string role) => File.ReadAllText(Path.Combine(StateDir, "keys", role + ".key")).Trim();

    public DTrustClient Connect(int node, string role) => DTrustClient.Connect(Nodes[node % Nodes.Count].Address, apiKey: ApiKey(role));

    public static Target Attach(IReadOnlyList<Uri> servers, string stateDir, int sessions, int? pid) =>
        new([.. servers.Select(s => new Node(s, servers.Count == 1 ? pid ?? FindServerProcess() : null))], Path.GetFullPath(stateDir), sessions, "as configured");

    /// <summary>Starts <paramref name="count"/> nodes; the challenge rate limit is raised so that load is not refused.</summary>
    public static async Task<Target> SpawnAsync(int count, int sessions, IReadOnlyList<string> extraEnvironment)
    {
        var env = new Dictionary<string, string>
        {
            ["DTrust__Hsm__Sessions"] = sessions.ToString(CultureInfo.InvariantCulture),
            ["DTrust__Signing__ChallengesPerMinute"] = "1000000",
            ["DTrust__Signing__OtpSendsPerPartnerPerHour"] = "100000000",
            ["DTrust__Signing__OtpSendsPerPhonePerHour"] = "100000000",
            ["DTrust__Grpc__CallsPerSecondPerCaller"] = "100000000",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var setting in extraEnvironment)
        {
            var (name, value) = setting.IndexOf('=', StringComparison.Ordinal) is > 0 and var at
                ? (setting[..at], setting[(at + 1)..])
                : throw new ArgumentException($"--node-env wants NAME=VALUE, not '{setting}'");
            env[name] = value;
        }

        var owned = new List<IAsyncDisposable>();
        PostgresServer? postgres = null;
        if (count > 1)
        {
            postgres = await PostgresServer.StartAsync();
            owned.Add(postgres);
            env["DTrust__Store__Engine"] = "postgres";
            env["DTrust__Store__ConnectionString"] = await postgres.CreateDatabaseAsync();
        }

        var first = await ServerProcess.StartAsync(env);
        var servers = new List<ServerProcess> { first };
        for (var i = 1; i < count; i++)
        {
            servers.Add(await ServerProcess.StartAsync(env, first.StateDir, first.Redis));
        }

        // Dispose order: later nodes, the first (it owns state and Redis), then PostgreSQL.
        owned.InsertRange(0, servers.AsEnumerable().Reverse());
        var target = new Target(
            [.. servers.Select(s => new Node(s.GrpcAddress, s.ProcessId))], first.StateDir, sessions, count > 1 ? "postgres" : "sqlite");
        target._owned.AddRange(owned);
        return target;
    }

    /// <summary>A local server started by <c>make run</c>: the one process running DTrust.SigningServer.dll.</summary>
    private static int? FindServerProcess()
    {
        var found = Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && CommandLine(pid).Contains("DTrust.SigningServer.dll", StringComparison.Ordinal))
            .ToList();
        return found.Count == 1 ? found[0] : null;
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    public async ValueTask DisposeAsync()
    {
        Outbox.Dispose();
        foreach (var o in _owned)
        {
            await o.DisposeAsync();
        }
    }
}
