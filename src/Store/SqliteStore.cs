using System.Data;
using System.Data.Common;
using DTrust.Store.Internal;
using Microsoft.Data.Sqlite;

namespace DTrust.Store;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a commit that returned survives
/// kill -9 and power loss. Writers take the file's write lock up front (BEGIN IMMEDIATE); readers never wait in WAL.
/// </summary>
public sealed class SqliteStore : StoreEngine
{
    // SQLite's own busy handler waits in small steps; the provider's retry loop (150 ms sleeps) is the fallback.
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;";

    private readonly string _connectionString;

    public SqliteStore(string path, int auditBatchSize, ILogger log)
        : base(StoreOptions.Sqlite, auditBatchSize, log)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    private protected override string ChainHeadLock => "";

    private protected override IReadOnlyList<string> Migrations { get; } = [SqliteSchema.V1, SqliteSchema.CodeLimitsV2, SqliteSchema.CrlsV3, SqliteSchema.UnlocksV4, SqliteSchema.HolderApprovalV5, SqliteSchema.SealsV6];

    private protected override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var c = new SqliteConnection(_connectionString);
        try
        {
            await c.OpenAsync(ct);

            // Per connection, not stored in the file (a pooled connection keeps them; setting them again is cheap).
            await using var cmd = c.CreateCommand();
            cmd.CommandText = ConnectionPragmas;
            await cmd.ExecuteNonQueryAsync(ct);
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    private protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct) =>
        // deferred: false is BEGIN IMMEDIATE: the write lock is taken now, so the chain head read in it is the latest.
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(IsolationLevel.Serializable, deferred: false));

    private protected override Task LockForMigrationAsync(DbConnection c, DbTransaction tx, CancellationToken ct) =>
        Task.CompletedTask; // BEGIN IMMEDIATE already excludes other writers.

    private protected override async Task PrepareDatabaseAsync(DbConnection c, CancellationToken ct)
    {
        // WAL is a property of the file: set once, it holds for every later connection.
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode = WAL";
        var mode = (string?)await cmd.ExecuteScalarAsync(ct);
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"SQLite refused WAL mode (journal_mode is {mode})");
        }
    }

    private protected override bool IsUnavailable(Exception error) => error switch
    {
        // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL: the file or its disk, not the request.
        SqliteException s => s.SqliteErrorCode is 5 or 6 or 8 or 10 or 13 or 14 or 15,
        IOException => true,
        _ => false,
    };

    private protected override ValueTask DisposeConnectionsAsync()
    {
        // Pooled connections keep the file open; release them so the file can be moved or deleted.
        using var c = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(c);
        return ValueTask.CompletedTask;
    }
}
