namespace DTrust.Store;

/// <summary>
/// Configuration section <c>DTrust:Store</c>. The embedded SQLite file is the default; several server nodes share
/// one PostgreSQL.
/// </summary>
public sealed class StoreOptions
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Engine { get; set; } = Sqlite;

    /// <summary>
    /// PostgreSQL: an Npgsql connection string (required). SQLite: optional path of the database file; empty means
    /// <c>{StateDirectory}/dtrust.db</c>.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Most audit entries written in one group-commit transaction.</summary>
    public int AuditBatchSize { get; set; } = 512;
}
