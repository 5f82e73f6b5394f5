using DTrust.Store;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace DTrust.Store.Tests;

/// <summary>The contract on a SQLite file in a temporary directory, plus what is particular to the file.</summary>
public sealed class SqliteStoreTests(ITestOutputHelper output) : StoreContractTests(output)
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dtrust-store-" + Guid.NewGuid().ToString("N")[..12]);

    private string DatabasePath => Path.Combine(_dir, "dtrust.db");

    protected override Task CreateDatabaseAsync()
    {
        Directory.CreateDirectory(_dir);
        return Task.CompletedTask;
    }

    protected override StoreEngine OpenStore(int auditBatchSize = 512) =>
        new SqliteStore(DatabasePath, auditBatchSize, NullLogger.Instance);

    protected override StoreEngine OpenUnreachableStore() =>
        new SqliteStore(Path.Combine(_dir, "missing-directory", "dtrust.db"), 512, NullLogger.Instance);

    protected override async Task ExecuteSqlAsync(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task What_an_append_returned_is_in_the_file_for_another_connection()
    {
        var appended = await Store.AppendAsync(Event(1), default);

        // A separate, unpooled connection: it sees only what reached the file (WAL included), nothing cached in-process.
        await using var c = new SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly;Pooling=False");
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT hash FROM audit_log WHERE seq = 1; PRAGMA journal_mode;";
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.Equal(appended.Hash, r.GetFieldValue<byte[]>(0));
        Assert.True(await r.NextResultAsync());
        Assert.True(await r.ReadAsync());
        Assert.Equal("wal", r.GetString(0));
    }

    [Fact]
    public async Task The_store_reopens_with_its_data_after_disposal()
    {
        await AppendManyAsync(3);
        await Store.InsertUserAsync(User("t1", "u1"), default);
        await Store.DisposeAsync();

        await using var reopened = OpenStore();
        await reopened.MigrateAsync(default);
        Assert.NotNull(await reopened.GetUserAsync("t1", "u1", default));
        Assert.Equal(4, (await reopened.AppendAsync(Event(9), default)).Sequence);
        Assert.True((await AuditChain.VerifyAsync(reopened.ReadAllAsync(default))).Intact);
    }

    [Fact]
    public async Task Kept_connections_serve_concurrent_use_and_close_the_file_on_disposal()
    {
        // Reads, writes and the group commit on several connections at once, each statement run many times.
        await Store.InsertUserAsync(User("t1", "u1"), default);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            for (var n = 0; n < 50; n++)
            {
                Assert.NotNull(await Store.GetUserAsync("t1", "u1", default));
                await Store.AppendAsync(Event(i * 100 + n), default);
            }
        })));
        Assert.True(OpenDescriptors() > 0);
        Assert.True((await AuditChain.VerifyAsync(Store.ReadAllAsync(default))).Intact);

        // Closed for real: no descriptor of this process is left on the file or its WAL once the store is disposed.
        await Store.DisposeAsync();
        Assert.Equal(0, OpenDescriptors());
    }

    // This process's open files under the test's directory (Linux: /proc/self/fd).
    private int OpenDescriptors() =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Count(fd => fd.LinkTarget is { } target && target.StartsWith(_dir, StringComparison.Ordinal));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
