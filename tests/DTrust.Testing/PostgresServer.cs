namespace DTrust.Testing;

/// <summary>
/// A real PostgreSQL (Debian's packaged server) in its own temporary cluster on a free loopback port, trust
/// authentication on 127.0.0.1 only, its socket inside the cluster directory. PostgreSQL refuses to run as root, so
/// when the tests are root the cluster belongs to the package's <c>postgres</c> user and runs through runuser.
/// Disposed, the server stops and the directory is deleted.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string dir, int port, bool asPostgresUser)
    {
        _bin = bin;
        Directory = dir;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    public string Directory { get; }

    public int Port { get; }

    private string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>Npgsql connection string of <paramref name="database"/> as the superuser.</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true";

    public static async Task<PostgresServer> StartAsync()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the fixture drives Debian's PostgreSQL");
        }

        var bin = FindBinaries();
        var dir = Path.Combine(Path.GetTempPath(), "dtrust-pg-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(dir);
        var asPostgresUser = Environment.UserName == "root";
        var server = new PostgresServer(bin, dir, RedisServer.FreePort(), asPostgresUser);
        try
        {
            if (asPostgresUser)
            {
                (await ProcessRunner.RunAsync("chown", ["postgres:postgres", dir])).EnsureSuccess("chown");
            }

            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            // --no-sync: a throw-away cluster need not survive a crash of this machine; the server itself still fsyncs.
            (await server.RunAsync("initdb", ["-D", server.DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--locale=C", "--no-sync"])).EnsureSuccess("initdb");
            await server.StartServerAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates an empty database (one per test keeps tests independent) and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        (await ProcessRunner.RunAsync(Path.Combine(_bin, "psql"),
            ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres",
             "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", $"CREATE DATABASE {name}"])).EnsureSuccess("psql CREATE DATABASE");
        return ConnectionString(name);
    }

    /// <summary>Runs <paramref name="sql"/> through psql in the database of <paramref name="connectionString"/>; the unaligned output.</summary>
    public async Task<string> QueryAsync(string connectionString, string sql)
    {
        var database = connectionString.Split(';').Select(p => p.Split('=', 2))
            .Single(p => p[0].Equals("Database", StringComparison.OrdinalIgnoreCase))[1];
        return (await ProcessRunner.RunAsync(Path.Combine(_bin, "psql"),
            ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres",
             "-d", database, "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])).EnsureSuccess("psql").StdOut.Trim();
    }

    /// <summary>Stops the cluster (fast: open sessions are cut, as in an outage) and keeps its data for <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync() =>
        (await RunAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])).EnsureSuccess("pg_ctl stop");

    /// <summary>Starts the stopped cluster again on the same port with the same data.</summary>
    public Task RestartAsync() => StartServerAsync();

    private async Task StartServerAsync()
    {
        var options = $"-p {Port} -k {Directory} -c listen_addresses=127.0.0.1";
        (await RunAsync("pg_ctl", ["-D", DataDirectory, "-l", Path.Combine(Directory, "server.log"),
            "-o", options, "-w", "-t", "30", "start"])).EnsureSuccess("pg_ctl start");
    }

    private static string FindBinaries()
    {
        // Debian keeps the server tools per major version, off PATH.
        var root = "/usr/lib/postgresql";
        var bin = System.IO.Directory.Exists(root)
            ? System.IO.Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException(
            "required tool 'initdb' (Debian package postgresql) is not installed; run 'make deps' (a missing service is a failure)");
    }

    private Task<ProcessRunner.Result> RunAsync(string tool, IEnumerable<string> args)
    {
        var exe = Path.Combine(_bin, tool);
        return _asPostgresUser
            ? ProcessRunner.RunAsync("runuser", ["-u", "postgres", "--", exe, .. args])
            : ProcessRunner.RunAsync(exe, args);
    }

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            // Immediate: the cluster is thrown away, nothing needs a clean checkpoint.
            await RunAsync("pg_ctl", ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]);
        }

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
