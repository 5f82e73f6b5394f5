using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using DTrust.KeyVault;
using DTrust.Store;
using DTrust.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace DTrust.Benchmarks.Store;

/// <summary>
/// The store's part of one PIN-bound signature besides its audit entry: the credential read (SigningFlow reads it
/// at each call) and the PIN attempt taken before the HSM and reset after the right PIN. The attempt statements ride
/// the audit group commit, so 100 signatures at once share commits instead of each waiting for the write lock and a
/// commit of its own (issue 19); the credential read runs on a kept connection with its statement prepared. Per
/// signature; SQLite as the server opens it, PostgreSQL a throw-away cluster (DTrust.Testing.PostgresServer).
/// </summary>
[Config(typeof(BenchConfig))]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet calls [GlobalCleanup], which disposes them, not Dispose")]
public class PinAttemptBenchmarks
{
    private const int Concurrent = 100;
    private const int Limit = 5;

    private string _dir = "";
    private PostgresServer? _postgres;
    private StoreEngine _store = null!;

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
            _dir = Directory.CreateTempSubdirectory("dtrust-bench-pins-").FullName;
            _store = new SqliteStore(Path.Combine(_dir, "dtrust.db"), 512, NullLogger.Instance);
        }

        await _store.MigrateAsync(CancellationToken.None);
        for (var i = 0; i < Concurrent; i++)
        {
            await _store.InsertCredentialAsync(Credential(i), CancellationToken.None);
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        // Every attempt was given back: a count left over means the benchmark measured something else.
        var left = await _store.GetCredentialAsync("dev", Id(0), CancellationToken.None);
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

        if (left is not { FailedPinCount: 0, Status: CredentialStatus.Valid })
        {
            throw new InvalidOperationException($"credential 0 ended with {left?.FailedPinCount} failed PINs, {left?.Status}");
        }
    }

    [Benchmark(Description = "credential read (prepared: SQLite kept connection, PostgreSQL auto-prepare)")]
    public Task<CredentialRecord?> Read() => _store.GetCredentialAsync("dev", Id(0), CancellationToken.None);

    [Benchmark(Baseline = true, Description = "PIN attempt taken + reset, one signature alone")]
    public Task Alone() => AttemptAsync(0);

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "100 signatures at once (group commit), per signature")]
    public Task Concurrently()
    {
        var all = new Task[Concurrent];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = AttemptAsync(i);
        }

        return Task.WhenAll(all);
    }

    private async Task AttemptAsync(int credential)
    {
        var now = DateTimeOffset.UtcNow;
        _ = await _store.TakePinAttemptAsync("dev", Id(credential), CredentialStatus.Valid, Limit, now, CancellationToken.None)
            ?? throw new InvalidOperationException("no PIN attempt left");
        await _store.ResetWrongPinsAsync("dev", Id(credential), Limit, now, CancellationToken.None);
    }

    private static string Id(int i) => "cred-bench-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static CredentialRecord Credential(int i) => new()
    {
        Id = Id(i),
        Tenant = "dev",
        UserId = "holder-bench",
        Level = CredentialLevel.Advanced,
        Algorithm = KeyAlgorithm.EcP256,
        Status = CredentialStatus.Valid,
        Certificate = RandomNumberGenerator.GetBytes(400),
        SerialHex = (i + 1).ToString("X8", System.Globalization.CultureInfo.InvariantCulture),
        NotAfter = DateTimeOffset.UtcNow.AddYears(10),
        Key = new WrappedCredentialKey("advanced", KeyAlgorithm.EcP256, RandomNumberGenerator.GetBytes(91),
            RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(120), RandomNumberGenerator.GetBytes(32)),
        CreatedAt = DateTimeOffset.UtcNow,
        UpdatedAt = DateTimeOffset.UtcNow,
    };
}
