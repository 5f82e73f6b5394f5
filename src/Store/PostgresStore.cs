using System.Data.Common;
using System.Net.Sockets;
using DTrust.Store.Internal;
using Npgsql;

namespace DTrust.Store;

/// <summary>
/// The store shared by several server nodes. Each node group-commits its own appends; the row lock on the one-row
/// chain head (SELECT … FOR UPDATE) orders the batches of all nodes into one chain.
/// </summary>
public sealed class PostgresStore : StoreEngine
{
    // Any constant shared by all nodes: the advisory lock that lets one node at a time migrate.
    private const long MigrationLockKey = 0x4454_7275_7374_0001;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresStore(string connectionString, int auditBatchSize, ILogger log)
        : base(StoreOptions.Postgres, auditBatchSize, log)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        var settings = new NpgsqlConnectionStringBuilder(connectionString);
        if (!Names(connectionString, "maxautoprepare"))
        {
            // The store's statements are a few dozen constants: prepared once per physical connection (Npgsql keeps
            // them across the pool's reuse) instead of parsed and planned by the server on every call. An explicit
            // Max Auto Prepare=0 turns it off (a pooler in transaction mode that cannot keep prepared statements).
            settings.MaxAutoPrepare = 64;
            if (!Names(connectionString, "autoprepareminusages"))
            {
                settings.AutoPrepareMinUsages = 2;
            }
        }

        if (!Names(connectionString, "noresetonclose"))
        {
            // The store never changes session state (no SET, no temporary tables; its advisory lock ends with the
            // transaction), so a pooled connection needs no reset (RESET ALL, UNLISTEN, advisory unlock, DISCARD,
            // prepended to its next query) on every reuse; an open transaction is still rolled back on close.
            settings.NoResetOnClose = true;
        }

        _dataSource = NpgsqlDataSource.Create(settings.ConnectionString);
    }

    // Whether the connection string sets the keyword itself (any spelling Npgsql accepts: case and spaces free).
    private static bool Names(string connectionString, string keyword) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(k => string.Equals(k.Replace(" ", "", StringComparison.Ordinal), keyword, StringComparison.OrdinalIgnoreCase));

    private protected override string ChainHeadLock => " FOR UPDATE";

    private protected override IReadOnlyList<string> Migrations { get; } = [PostgresSchema.V1, PostgresSchema.CodeLimitsV2, PostgresSchema.CrlsV3, PostgresSchema.UnlocksV4, PostgresSchema.HolderApprovalV5, PostgresSchema.SealsV6];

    private protected override async Task<DbConnection> OpenAsync(CancellationToken ct) =>
        await _dataSource.OpenConnectionAsync(ct);

    private protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct) =>
        await connection.BeginTransactionAsync(ct);

    private protected override async Task LockForMigrationAsync(DbConnection c, DbTransaction tx, CancellationToken ct)
    {
        // Released at commit; DDL is transactional in PostgreSQL, so a node that waited sees the finished schema.
        await using var cmd = Command(c, tx, "SELECT pg_advisory_xact_lock(@key)", ("key", MigrationLockKey));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private protected override bool IsUnavailable(Exception error) => error switch
    {
        // Connection refused or lost, server shutting down or starting, too many connections, pool timeout.
        NpgsqlException n => n.IsTransient,
        SocketException or IOException or TimeoutException => true,
        _ => false,
    };

    private protected override ValueTask DisposeConnectionsAsync() => _dataSource.DisposeAsync();
}
