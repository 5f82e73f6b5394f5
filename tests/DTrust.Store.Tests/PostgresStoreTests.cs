using DTrust.Store;
using DTrust.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit.Abstractions;

namespace DTrust.Store.Tests;

/// <summary>One PostgreSQL cluster for the whole run; each test gets its own database in it.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await Server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresGroup : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}

[Collection(PostgresGroup.Name)]
public sealed class PostgresStoreTests(PostgresFixture postgres, ITestOutputHelper output) : StoreContractTests(output)
{
    private string _connectionString = "";

    protected override async Task CreateDatabaseAsync() => _connectionString = await postgres.Server.CreateDatabaseAsync();

    protected override StoreEngine OpenStore(int auditBatchSize = 512) =>
        new PostgresStore(_connectionString, auditBatchSize, NullLogger.Instance);

    // A loopback port nobody listens on: connection refused, the way a stopped server looks.
    protected override StoreEngine OpenUnreachableStore() => new PostgresStore(
        $"Host=127.0.0.1;Port={RedisServer.FreePort()};Username=postgres;Password=not-a-secret;Timeout=2", 512, NullLogger.Instance);

    protected override async Task ExecuteSqlAsync(string sql)
    {
        await using var c = new NpgsqlConnection(_connectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }
}
