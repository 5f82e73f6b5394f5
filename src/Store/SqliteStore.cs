using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using DTrust.Store.Internal;
using Microsoft.Data.Sqlite;

namespace DTrust.Store;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a commit that returned survives
/// kill -9 and power loss. Writers take the file's write lock up front (BEGIN IMMEDIATE); readers never wait in WAL.
/// Connections stay open with their statements prepared (<see cref="KeptConnection"/>): opening one from the
/// driver's pool, setting its pragmas and preparing the statement again cost more than most queries here.
/// </summary>
public sealed class SqliteStore : StoreEngine
{
    // SQLite's own busy handler waits in small steps; the provider's retry loop (150 ms sleeps) is the fallback.
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;";

    // Enough for the request threads of a busy node; more at once are opened and closed per use.
    private const int KeptConnections = 16;

    // Per connection; bounds what a connection holds if statement texts ever vary more than the store's constants.
    private const int KeptStatements = 128;

    private readonly string _connectionString;
    private readonly ConcurrentBag<KeptConnection> _idle = [];

    // The bag's own Count takes all its locks: counted here instead, approximately (a bound, not an invariant).
    private int _idleCount;
    private int _closed;

    public SqliteStore(string path, int auditBatchSize, ILogger log)
        : base(StoreOptions.Sqlite, auditBatchSize, log)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false, // kept here, with their prepared statements
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    private protected override string ChainHeadLock => "";

    private protected override IReadOnlyList<string> Migrations { get; } = [SqliteSchema.V1, SqliteSchema.CodeLimitsV2, SqliteSchema.CrlsV3, SqliteSchema.UnlocksV4, SqliteSchema.HolderApprovalV5, SqliteSchema.SealsV6];

    private protected override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        if (TryTakeIdle(out var kept))
        {
            return kept;
        }

        var c = new KeptConnection(_connectionString);
        try
        {
            await c.OpenAsync(ct);

            // Per connection, not stored in the file: set once when it opens.
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

    private protected override ValueTask ReleaseAsync(DbConnection c, bool failed)
    {
        // A connection whose work failed may be left in any state (an open statement, a transaction): not reused.
        if (failed || c is not KeptConnection kept || Volatile.Read(ref _closed) != 0 || Volatile.Read(ref _idleCount) >= KeptConnections)
        {
            return c.DisposeAsync();
        }

        Interlocked.Increment(ref _idleCount);
        _idle.Add(kept);

        // Closed meanwhile: DisposeConnectionsAsync may have emptied the bag before this one went in.
        if (Volatile.Read(ref _closed) != 0 && TryTakeIdle(out var late))
        {
            return late.DisposeAsync();
        }

        return ValueTask.CompletedTask;
    }

    private bool TryTakeIdle([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out KeptConnection? kept)
    {
        if (!_idle.TryTake(out kept))
        {
            return false;
        }

        Interlocked.Decrement(ref _idleCount);
        return true;
    }

    private protected override DbCommand NewCommand(DbConnection c, string sql)
    {
        if (c is not KeptConnection kept)
        {
            return base.NewCommand(c, sql);
        }

        if (kept.Commands.TryGetValue(sql, out var cmd))
        {
            return cmd;
        }

        if (kept.Commands.Count >= KeptStatements)
        {
            return base.NewCommand(c, sql);
        }

#pragma warning disable CA2100 // Every statement is a constant of the store; values travel only as parameters.
        cmd = new KeptCommand { Connection = kept, CommandText = sql };
#pragma warning restore CA2100
        kept.Commands.Add(sql, cmd);
        return cmd;
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

    private protected override async ValueTask DisposeConnectionsAsync()
    {
        // Kept connections keep the file open; close them so the file can be moved or deleted.
        Volatile.Write(ref _closed, 1);
        while (TryTakeIdle(out var c))
        {
            await c.DisposeAsync();
        }
    }

    /// <summary>A connection this store keeps open, with one prepared command per statement text.</summary>
    private sealed class KeptConnection(string connectionString) : SqliteConnection(connectionString)
    {
        public Dictionary<string, KeptCommand> Commands { get; } = new(StringComparer.Ordinal);

        public override ValueTask DisposeAsync()
        {
            ReleaseCommands();
            return base.DisposeAsync();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                ReleaseCommands();
            }

            base.Dispose(disposing);
        }

        // Finalizes the prepared statements first: a connection closed with statements left open stays open
        // natively (sqlite3_close_v2) until they are finalized.
        private void ReleaseCommands()
        {
            foreach (var command in Commands.Values)
            {
                command.Release();
            }

            Commands.Clear();
        }
    }

    /// <summary>
    /// A command that outlives its users' <c>await using</c>, so that its prepared statement is reused; its
    /// connection releases it when it closes.
    /// </summary>
    private sealed class KeptCommand : SqliteCommand
    {
        private bool _released;

        public void Release()
        {
            _released = true;
            Dispose();
        }

        protected override void Dispose(bool disposing)
        {
            // Only the connection's release disposes it; its users' disposal keeps it for the next use.
            if (_released)
            {
                base.Dispose(disposing);
            }
        }
    }
}
