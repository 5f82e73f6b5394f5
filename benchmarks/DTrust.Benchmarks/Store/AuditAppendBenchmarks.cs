using System.Diagnostics.CodeAnalysis;
using BenchmarkDotNet.Attributes;
using DTrust.SigningServer.Credentials;
using DTrust.Store;
using DTrust.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace DTrust.Benchmarks.Store;

/// <summary>
/// Audit appends as SignHash makes them (one <c>signature.created</c> entry per signature, billed, through the
/// server's <see cref="AuditTrail"/> into the store's hash chain), each awaited until durable: one append alone
/// (one commit per entry: the disk's commit rate) against 100 concurrent appends, which the store's single writer
/// group-commits into as few transactions as the disk allows. Both are per append, so the ratio is the gain of group
/// commit. SQLite is a file in a temporary directory (WAL, synchronous=FULL, as the server opens it); PostgreSQL is a
/// throw-away cluster of the packaged server (DTrust.Testing.PostgresServer, a few seconds to start, fsync on).
/// </summary>
[Config(typeof(BenchConfig))]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet calls [GlobalCleanup], which disposes them, not Dispose")]
public class AuditAppendBenchmarks
{
    private const int Concurrent = 100;

    private string _dir = "";
    private PostgresServer? _postgres;
    private StoreEngine _store = null!;
    private AuditTrail _audit = null!;
    private int _next;

    [Params(StoreOptions.Sqlite, StoreOptions.Postgres)]
    public string Engine { get; set; } = StoreOptions.Sqlite;

    [GlobalSetup]
    public async Task Setup()
    {
        if (Engine == StoreOptions.Postgres)
        {
            _postgres = await PostgresServer.StartAsync();
            _store = new PostgresStore(await _postgres.CreateDatabaseAsync(), 512, NullLogger.Instance);
        }
        else
        {
            _dir = Directory.CreateTempSubdirectory("dtrust-bench-store-").FullName;
            _store = new SqliteStore(Path.Combine(_dir, "dtrust.db"), 512, NullLogger.Instance);
        }

        await _store.MigrateAsync(CancellationToken.None);
        _audit = new AuditTrail(_store, TimeProvider.System);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        // The chain the run wrote must still verify: a benchmark that broke it would have measured a broken store.
        var check = await AuditChain.VerifyAsync(_store.ReadAllAsync(CancellationToken.None));
        await _store.DisposeAsync();
        if (_postgres is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await _postgres.DisposeAsync();
        }
        else
        {
            Directory.Delete(_dir, recursive: true);
        }

        if (!check.Intact)
        {
            throw new InvalidOperationException($"the audit chain broke at {check.FirstBadSequence}: {check.Problem}");
        }
    }

    [Benchmark(Baseline = true, Description = "one append, awaited alone")]
    public Task<AuditEntry> Alone() => AppendAsync();

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "100 concurrent appends (group commit), per append")]
    public Task Concurrently()
    {
        var all = new Task[Concurrent];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = AppendAsync();
        }

        return Task.WhenAll(all);
    }

    // What SigningFlow writes per signature: the same details and the usage row it bills in the same transaction.
    private Task<AuditEntry> AppendAsync()
    {
        var n = Interlocked.Increment(ref _next);
        return _audit.RecordAsync(
            "caller-bench", "dev", "cred-bench", "signature.created",
            details: new
            {
                challenge = "chal-bench-" + n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                hash = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
                algorithm = "SHA256",
                format = "Raw",
                tsa_serial = (string?)null,
            },
            usage: (CredentialLevel.Qualified, 1));
    }
}
